import GRDB
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// The in-memory queue index agrees with the table: after every step of a random mix of
/// placements, claims, cancels, retries, requeues and an outside writer, each queued order's
/// position equals the count the SQL gives, and so does the queue's length.
@Suite("Queue index", .timeLimit(.minutes(1)))
struct QueueIndexTests {
    func expectAgrees(_ env: StoreEnv, step: String) async throws {
        let (sqlPositions, sqlCount) = try await env.store.pool.read { db -> ([Int64: Int], Int) in
            let queued = try Row.fetchAll(db, sql: "SELECT \(OrderRow.columns) FROM orders WHERE status = 'queued'").map(OrderRow.order)
            var positions: [Int64: Int] = [:]
            for order in queued { positions[order.id] = try SQLiteOrderStore.position(db, of: order) }
            return (positions, queued.count)
        }
        #expect(env.store.queuedCount == sqlCount, "after \(step)")
        for (id, expected) in sqlPositions {
            let order = try #require(try await env.store.order(id: id))
            #expect(try await env.store.position(of: order) == expected, "order \(id) after \(step)")
        }
    }

    @Test func agreesWithTheTableThroughARandomMix() async throws {
        let settings = StoreSettings(maxNumber: 100_000, maxQueued: 100_000,
                                     retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0, maxSeconds: 0))
        try await withStore(settings: settings) { env in
            let store = env.store
            var rng = SystemRandomNumberGenerator()
            var claims: [Claim] = []
            var failed: [Int64] = []
            for step in 0..<300 {
                let roll = Int.random(in: 0..<100, using: &rng)
                var what = "nothing"
                switch roll {
                case 0..<45:
                    let rush = Bool.random(using: &rng) && Bool.random(using: &rng)
                    _ = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)],
                                                       priority: rush ? .rush : .normal, cookSeconds: 1))
                    what = rush ? "a rush placement" : "a placement"
                case 45..<65:
                    if let claim = try await store.claimNext(cook: "c", leaseSeconds: 60) { claims.append(claim); what = "a claim" }
                case 65..<75:
                    if let claim = claims.popLast() {
                        let after = try await store.failAttempt(orderID: claim.order.id, lease: claim.lease, error: "x",
                                                                retry: Bool.random(using: &rng))
                        if after.status == .failed { failed.append(after.id) }
                        what = "a failed attempt"
                    }
                case 75..<82:
                    if let id = failed.popLast() { _ = try await store.requeue(id: id); what = "a requeue" }
                case 82..<90:
                    let queued = try await store.listOrders(status: .queued, limit: 50, after: nil)
                    if let victim = queued.randomElement(using: &rng) {
                        _ = try await store.cancel(ticket: victim.ticket)
                        what = "a cancel"
                    }
                case 90..<95:
                    if let claim = claims.popLast() { _ = try await store.markReady(orderID: claim.order.id, lease: claim.lease); what = "ready" }
                default:
                    // An outside writer (an operator's sqlite3) queues an order behind the store's back.
                    let queue = try DatabaseQueue(path: env.path)
                    try await queue.write { db in
                        try db.execute(sql: """
                            INSERT INTO orders (ticket, number, status, priority, items, max_attempts, available_at, created_at)
                            VALUES (?, ?, 'queued', 'rush', '[{"item":"fries","quantity":1}]', 3, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')
                            """, arguments: ["outside-\(step)", 90_000 + step])
                    }
                    try queue.close()
                    // The next batch notices it (any write will do).
                    try await store.pingWriter()
                    what = "an outside insert"
                }
                try await expectAgrees(env, step: "step \(step): \(what)")
            }
        }
    }
}
