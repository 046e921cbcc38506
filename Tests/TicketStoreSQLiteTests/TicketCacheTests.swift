import GRDB
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// Polls answer from the writer-filled ticket cache; what they answer must always be what the
/// table holds once the writer has run (it notices outside writes at its next batch).
@Suite("Ticket cache", .timeLimit(.minutes(1)))
struct TicketCacheTests {
    func expectAgrees(_ env: StoreEnv, step: String) async throws {
        let rows = try await env.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT \(OrderRow.columns) FROM orders").map(OrderRow.order)
        }
        for order in rows {
            let (polled, _) = try #require(try await env.store.ticket(order.ticket).map { ($0.order, $0.position) })
            #expect(polled == order, "ticket of order \(order.id) after \(step)")
        }
    }

    @Test func pollsAgreeWithTheTableThroughARandomMix() async throws {
        let settings = StoreSettings(maxNumber: 100_000, maxQueued: 100_000,
                                     retry: RetryPolicy(maxAttempts: 2, baseSeconds: 0, maxSeconds: 0))
        try await withStore(settings: settings) { env in
            let store = env.store
            var rng = SystemRandomNumberGenerator()
            var claims: [Claim] = []
            var ready: [String] = []
            for step in 0..<200 {
                var what = "nothing"
                switch Int.random(in: 0..<100, using: &rng) {
                case 0..<35:
                    _ = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)], cookSeconds: 1))
                    what = "a placement"
                case 35..<55:
                    claims += try await store.claimNext(cook: "c", leaseSeconds: 60, limit: Int.random(in: 1...3, using: &rng))
                    what = "a claim"
                case 55..<70:
                    if let claim = claims.popLast() {
                        ready.append(try await store.markReady(orderID: claim.order.id, lease: claim.lease).ticket)
                        what = "ready"
                    }
                case 70..<77:
                    if let claim = claims.popLast() {
                        _ = try await store.failAttempt(orderID: claim.order.id, lease: claim.lease, error: "x",
                                                        retry: Bool.random(using: &rng))
                        what = "a failed attempt"
                    }
                case 77..<85:
                    if let ticket = ready.popLast() { _ = try await store.pickup(ticket: ticket); what = "a pickup" }
                case 85..<92:
                    let queued = try await store.listOrders(status: .queued, limit: 50, after: nil)
                    if let victim = queued.randomElement(using: &rng) {
                        _ = try await store.cancel(ticket: victim.ticket)
                        what = "a cancel"
                    }
                default:
                    // An operator's sqlite3 changes a live order behind the store's back.
                    let queue = try DatabaseQueue(path: env.path)
                    try await queue.write { db in
                        try db.execute(sql: """
                            UPDATE orders SET note = 'changed outside', version = version + 1
                             WHERE id = (SELECT max(id) FROM orders WHERE status IN ('queued','ready'))
                            """)
                    }
                    try queue.close()
                    try await store.pingWriter()  // the next batch notices it
                    what = "an outside update"
                }
                try await expectAgrees(env, step: "step \(step): \(what)")
            }
        }
    }

    /// Two generations: a full current one becomes the previous one; a poll moves its order back
    /// into the current one; an update always wins over an older copy; final orders leave.
    @Test func evictionKeepsWhatIsUsedAndNeverServesAnOlderState() {
        let cache = TicketCache(generationSize: 2)
        cache.apply([cachedOrder("A", version: 1), cachedOrder("B", version: 1)])  // current full: becomes previous
        cache.apply([cachedOrder("C", version: 1)])
        #expect(cache.count == 3)
        #expect(cache.order(ticket: "A")?.version == 1)    // moved back: current {C, A} is full, previous
        #expect(cache.order(ticket: "B") == nil)          // B was in the dropped generation
        cache.apply([cachedOrder("A", version: 2)])              // the update replaces the older copy
        #expect(cache.order(ticket: "A")?.version == 2)
        cache.apply([cachedOrder("C", version: 2, status: .cooking)])
        #expect(cache.order(ticket: "C")?.version == 2)
        cache.apply([cachedOrder("A", version: 3, status: .pickedUp)])  // final: gone from both
        #expect(cache.order(ticket: "A") == nil)
        cache.removeAll()
        #expect(cache.count == 0 && cache.order(ticket: "C") == nil)
    }

    /// A cache of the default size keeps its generations in shards: every live order is found in
    /// whichever shard it went to, final ones leave, and each shard rotates on its own once full,
    /// keeping at least the last generation's worth of orders.
    @Test func shardsHoldEveryOrderAndRotateOnTheirOwn() {
        let tickets = (0..<30_000).map { TicketID.generateTicket(at: Timestamp(milliseconds: 1_700_000_000_000 + Int64($0))) }
        let big = TicketCache()   // 262,144 a generation: 64 shards of 4,096
        big.apply(tickets.map { cachedOrder($0, version: 1) })
        #expect(big.count == tickets.count)
        #expect(tickets.allSatisfy { big.order(ticket: $0)?.version == 1 })
        big.apply(tickets.prefix(10_000).map { cachedOrder($0, version: 2, status: .pickedUp) })
        #expect(big.count == 20_000)
        #expect(tickets.prefix(10_000).allSatisfy { big.order(ticket: $0) == nil })
        #expect(tickets.suffix(20_000).allSatisfy { big.order(ticket: $0)?.version == 1 })

        // Two shards of 4,096: 30,000 orders rotate each shard several times. What is kept is
        // bounded by two generations a shard, and the newest 4,096 orders (at most a generation
        // per shard and all in its current one or just moved to its previous one) are all there.
        let small = TicketCache(generationSize: 8_192)
        let token = small.fillToken
        small.apply(tickets.map { cachedOrder($0, version: 1) })
        #expect(small.count <= 2 * 8_192)
        #expect(small.count >= 8_192)
        #expect(tickets.suffix(4_096).allSatisfy { small.order(ticket: $0)?.version == 1 })
        #expect(small.order(ticket: tickets[0]) == nil)
        // A read that began before a shard rotated may have missed a dropped state: refused.
        small.fill(cachedOrder("D", version: 1), readAfter: token)
        #expect(small.order(ticket: "D") == nil)
        small.fill(cachedOrder("D", version: 1), readAfter: small.fillToken)
        #expect(small.order(ticket: "D")?.version == 1)
        small.removeAll()
        #expect(small.count == 0 && small.order(ticket: tickets.last ?? "") == nil)
    }

    /// A poll's read fills the cache unless the cache may have missed something newer since the
    /// read began: a newer version held, the order turned final, the cache emptied, a generation
    /// dropped.
    @Test func aPollsReadFillsTheCacheOnlyWhenNothingNewerCanBeMissed() {
        let cache = TicketCache(generationSize: 4)
        // A live order read with nothing in between: cached.
        var token = cache.fillToken
        cache.fill(cachedOrder("A", version: 1), readAfter: token)
        #expect(cache.order(ticket: "A")?.version == 1)
        // A read that began before a newer version was applied: the newer one stays.
        token = cache.fillToken
        cache.apply([cachedOrder("A", version: 2)])
        cache.fill(cachedOrder("A", version: 1), readAfter: token)
        #expect(cache.order(ticket: "A")?.version == 2)
        // A read that began before the order turned final: refused (it is gone from the cache).
        token = cache.fillToken
        cache.apply([cachedOrder("B", version: 1)])
        cache.apply([cachedOrder("B", version: 2, status: .cancelled)])
        cache.fill(cachedOrder("B", version: 1), readAfter: token)
        #expect(cache.order(ticket: "B") == nil)
        // ... but a read after that finds it final, and final orders are never cached.
        cache.fill(cachedOrder("B", version: 2, status: .cancelled), readAfter: cache.fillToken)
        #expect(cache.order(ticket: "B") == nil)
        // A read that began before the cache was emptied: refused.
        token = cache.fillToken
        cache.removeAll()
        cache.fill(cachedOrder("C", version: 1), readAfter: token)
        #expect(cache.order(ticket: "C") == nil)
        // A read that began before a generation was dropped (its newer state may have gone
        // with it): refused; one that began after: cached.
        token = cache.fillToken
        cache.apply((0..<8).map { cachedOrder("x\($0)", version: 1) })
        cache.fill(cachedOrder("D", version: 1), readAfter: token)
        #expect(cache.order(ticket: "D") == nil)
        cache.fill(cachedOrder("D", version: 1), readAfter: cache.fillToken)
        #expect(cache.order(ticket: "D")?.version == 1)
    }

    @Test func pollsOfOrdersFromBeforeTheStartComeFromMemoryAfterTheFirst() async throws {
        try await withStore { env in
            await env.store.cacheWarmed.wait()   // the start's own filling is over (nothing to fill)
            let placed = try await env.store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)]))
            env.store.tickets.removeAll()   // as after a start: the cache does not know the order
            #expect(env.store.tickets.order(ticket: placed.order.ticket) == nil)
            #expect(try await env.store.ticket(placed.order.ticket)?.order == placed.order)
            #expect(env.store.tickets.order(ticket: placed.order.ticket) == placed.order)
        }
    }

    @Test func aStartPutsTheLiveOrdersAlreadyInTheDatabaseIntoTheCache() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("t.db").path
            try await withStore(at: path) { env in
                let store = env.store
                for _ in 0..<12 { _ = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)])) }
                let claims = try await store.claimNext(cook: "c", leaseSeconds: 60, limit: 4)
                _ = try await store.markReady(orderID: claims[0].order.id, lease: claims[0].lease)
                let pickedUp = try await store.markReady(orderID: claims[1].order.id, lease: claims[1].lease)
                _ = try await store.pickup(ticket: pickedUp.ticket)
                let queued = try await store.listOrders(status: .queued, limit: 50, after: nil)
                _ = try await store.cancel(ticket: queued[0].ticket)
            }
            let rows = try await rawConnection(path).read { db in
                try Row.fetchAll(db, sql: "SELECT \(OrderRow.columns) FROM orders").map(OrderRow.order)
            }
            let live = rows.filter { !$0.status.isFinal }
            #expect(live.count == 10)   // 12 placed, one picked up, one cancelled
            #expect(Set(live.map(\.status)) == [.queued, .cooking, .ready])
            // The next start (which hands the cooking orders back to the queue): every live order
            // comes into the cache, in its state now, without a poll; final ones do not.
            try await withStore(at: path) { env in
                try await waitUntil("the live orders in the cache") { env.store.tickets.count == live.count }
                let now = try await env.store.pool.read { db in
                    try Row.fetchAll(db, sql: "SELECT \(OrderRow.columns) FROM orders").map(OrderRow.order)
                }
                #expect(now.count == rows.count)
                for order in now {
                    #expect(env.store.tickets.order(ticket: order.ticket) == (order.status.isFinal ? nil : order))
                }
            }
        }
    }

    @Test func aClaimOfSeveralTakesThemInClaimOrderEachWithItsOwnLease() async throws {
        try await withStore { env in
            let store = env.store
            let normal = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)]))
            let rush = try await store.place(NewOrder(items: [OrderLine(item: "cola", quantity: 1)], priority: .rush))
            let later = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 2)]))
            let claims = try await store.claimNext(cook: "grill", leaseSeconds: 30, limit: 5)
            #expect(claims.map(\.order.id) == [rush.order.id, normal.order.id, later.order.id])
            #expect(Set(claims.map(\.lease)).count == 3)
            #expect(claims.allSatisfy { $0.order.status == .cooking && $0.order.attempts == 1 && $0.order.leaseOwner == "grill" })
            #expect(try await store.claimNext(cook: "grill", leaseSeconds: 30, limit: 5).isEmpty)
            // Each lease holds its own order only.
            await #expect(throws: StoreError.leaseLost) {
                _ = try await store.markReady(orderID: claims[0].order.id, lease: claims[1].lease)
            }
            for claim in claims {
                #expect(try await store.markReady(orderID: claim.order.id, lease: claim.lease).status == .ready)
            }
            let events = try await store.orderWithEvents(id: normal.order.id)
            #expect(events?.1.map(\.to) == [.queued, .cooking, .ready])
        }
    }
}

/// An order as the cache tests store it: only the ticket, version and status matter.
private func cachedOrder(_ ticket: String, version: Int, status: OrderStatus = .queued) -> Order {
    Order(id: Int64(ticket.utf8.first ?? 0), ticket: ticket, number: 1, status: status, priority: .normal,
          items: [], customer: nil, note: nil, version: version, attempts: 0, maxAttempts: 3, lastError: nil,
          leaseOwner: nil, leaseExpiresAt: nil, cookSeconds: 0, availableAt: Timestamp(milliseconds: 0),
          createdAt: Timestamp(milliseconds: 0), cookingAt: nil, readyAt: nil, finishedAt: nil)
}
