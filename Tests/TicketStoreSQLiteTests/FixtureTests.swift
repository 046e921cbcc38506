import Foundation
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// A database written before the store interface (and before `migrations/` moved to
/// `migrations/sqlite/`) opens, migrates and serves: the migration identifiers did not change.
@Suite("A database from the single-node release", .timeLimit(.minutes(1)))
struct FixtureTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/sqlite-before-store-interface.db")

    @Test("opens with every order as it was, hands back the one left cooking, and takes new orders after the last number")
    func opensAndServes() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("old.db").path
            try FileManager.default.copyItem(atPath: Self.fixture.path, toPath: path)
            // The identifiers did not change: only what came after the fixture is applied (0002
            // rebuilds the two tables it was written with, 0003 replaces the status index).
            #expect(try SQLiteOrderStore.migrate(path: path) == ["0002_status_checks_without_in_lists",
                                                                 "0003_status_index_past_the_queue"])
            try await withStore(at: path, settings: StoreSettings(retry: RetryPolicy(maxAttempts: 2, baseSeconds: 0, maxSeconds: 0)),
                                clock: TestClock.running()) { env in
                let store = env.store
                #expect(store.handedBackAtOpen.map(\.number) == [3], "the order its killed daemon left cooking")
                let statuses = try await store.listOrders(status: nil, limit: 10, after: nil).map { "\($0.number) \($0.status.rawValue)" }
                #expect(statuses == ["1 picked_up", "2 ready", "3 queued", "4 failed", "5 cancelled", "6 queued"])
                let failed = try #require(try await store.ticket("87eoSzP1HugiON63L82UzCj_7EtO9B"))
                #expect(failed.order.lastError == "fryer jammed" && failed.order.attempts == 2)
                let queued = try #require(try await store.ticket("87eounYjogvtQidfmFMluGcpio2z4x"))
                #expect(queued.order.status == .queued && queued.position == 1, "behind the handed-back number 3")
                #expect(try await env.events(id: 1).map(\.to) == [.queued, .cooking, .ready, .pickedUp])
                // The idempotent answer stored by the old binary replays byte for byte.
                let hash = try #require(try await env.probe.storedHash("fixture-key-1"))
                let replay = try await store.place(NewOrder(items: [OrderLine(item: "burger", quantity: 2)], customer: "Ana"),
                                                   idempotency: IdempotencyKey(key: "fixture-key-1", requestHash: hash))
                #expect(replay.replayed && replay.order.number == 1)
                let body = try #require(replay.response)
                #expect(String(decoding: body, as: UTF8.self).hasPrefix(#"{"ticket":"87eo23yzzSqnLz4sB1S7b-3QKo0hBO","number":1,"status":"queued""#))
                // New orders continue from the last number handed out.
                #expect(try await store.place(order()).order.number == 7)
                // The lists by status read the indexes of 0003 on the migrated database.
                #expect(try await store.listOrders(status: .queued, limit: 10, after: nil).map(\.number) == [3, 6, 7])
                #expect(try await store.listOrders(status: .failed, limit: 10, after: nil).map(\.number) == [4])
                let claim = try #require(try await store.claimNext(cook: "new", leaseSeconds: 30))
                #expect(claim.order.number == 3 && claim.order.attempts == 2)
                _ = try await store.markReady(claim)
                #expect(try await store.board() == Board(preparing: [6, 7], ready: [2, 3]))
                #expect(try await store.integrityCheck() == "ok")
            }
        }
    }
}

extension SQLiteProbe {
    /// The request hash stored with an Idempotency-Key.
    func storedHash(_ key: String) async throws -> String? {
        try await store.pool.read { db in
            try String.fetchOne(db, sql: "SELECT request_hash FROM idempotency_keys WHERE key = ?", arguments: [key])
        }
    }
}
