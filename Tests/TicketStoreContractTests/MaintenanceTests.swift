import Testing
import TicketCore
import TicketStore
import TicketTestSupport

@Suite("Reads and sweeps", .timeLimit(.minutes(1)))
struct MaintenanceTests {
    @Test("position is the number of orders claimed before this one", arguments: StoreKind.allCases)
    func position(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            let c = try await store.place(order(priority: .rush)).order
            let d = try await store.place(order()).order
            let e = try await store.place(order(priority: .rush)).order
            var remaining = [a, b, c, d, e]
            var claimedSoFar: [Int64] = []
            while !remaining.isEmpty {
                var positions: [Int64: Int] = [:]
                for o in remaining {
                    positions[o.id] = try await store.position(of: o)
                    let (read, position) = try #require(try await store.ticket(o.ticket).map { ($0.order, $0.position) })
                    #expect(read.id == o.id)
                    #expect(position == positions[o.id])
                }
                #expect(Set(positions.values) == Set(0..<remaining.count))
                let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
                // The order at position 0 is the one claimed next.
                #expect(positions[claim.order.id] == 0)
                claimedSoFar.append(claim.order.id)
                remaining.removeAll { $0.id == claim.order.id }
                // No position while cooking.
                let (_, position) = try #require(try await store.ticket(claim.order.ticket).map { ($0.order, $0.position) })
                #expect(position == nil)
            }
            #expect(claimedSoFar == [c.id, e.id, a.id, b.id, d.id])
        }
    }

    @Test("the board lists live numbers as preparing (queued, cooking) or ready", arguments: StoreKind.allCases)
    func board(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            #expect(try await store.board() == Board())
            var orders: [Order] = []
            for _ in 0..<5 { orders.append(try await store.place(order()).order) }   // numbers 1…5
            let first = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))   // 1
            _ = try await store.markReady(orderID: first.order.id, lease: first.lease)
            _ = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))           // 2 cooking
            _ = try await store.cancel(ticket: orders[4].ticket)                              // 5 gone
            var board = try await store.board()
            #expect(board.preparing == [2, 3, 4])
            #expect(board.ready == [1])
            _ = try await store.pickup(ticket: orders[0].ticket)
            board = try await store.board()
            #expect(board.preparing == [2, 3, 4])
            #expect(board.ready == [])
            #expect(try await store.liveCounts() == [.queued: 2, .cooking: 1, .ready: 0])
        }
    }

    @Test("the board's summary: the lowest numbers of each column up to a limit, exact counts, as board() says",
          arguments: StoreKind.allCases)
    func boardSummary(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            #expect(try await store.boardSummary(limit: 3) == BoardSummary(preparing: [], ready: [], preparingCount: 0, readyCount: 0))
            var orders: [Order] = []
            for _ in 0..<8 { orders.append(try await store.place(order()).order) }   // numbers 1…8
            for _ in 0..<2 {                                                            // 1, 2 ready
                let c = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
                _ = try await store.markReady(orderID: c.order.id, lease: c.lease)
            }
            _ = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))   // 3 cooking
            _ = try await store.cancel(ticket: orders[4].ticket)                       // 5 gone
            let board = try await store.board()
            let summary = try await store.boardSummary(limit: 3)
            #expect(summary == BoardSummary(preparing: [3, 4, 6], ready: [1, 2], preparingCount: 5, readyCount: 2))
            // Both lists full: the counts are still exact.
            #expect(try await store.boardSummary(limit: 2) == BoardSummary(preparing: [3, 4], ready: [1, 2], preparingCount: 5, readyCount: 2))
            let whole = try await store.boardSummary(limit: 1000)
            #expect(whole.preparing == board.preparing && whole.ready == board.ready)
            #expect(whole.preparingCount == board.preparing.count && whole.readyCount == board.ready.count)
        }
    }

    @Test("expireUncollected expires ready orders older than the pickup timeout", arguments: StoreKind.allCases)
    func expireUncollected(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store, clock = env.clock
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            let q = try await store.place(order()).order
            let ca = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            _ = try await store.markReady(orderID: a.id, lease: ca.lease)
            clock.advance(seconds: 100)
            let cb = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            _ = try await store.markReady(orderID: b.id, lease: cb.lease)
            let readyB = try await env.require(id: b.id)

            clock.advance(seconds: 1700)   // a ready for 1800 s: not yet beyond the timeout
            #expect(try await store.expireUncollected(pickupTimeout: 1800).isEmpty)
            clock.advance(seconds: 1)
            let expired = try await store.expireUncollected(pickupTimeout: 1800)
            #expect(expired.map(\.id) == [a.id])
            let ea = try await env.require(id: a.id)
            #expect(ea.status == .expired)
            #expect(ea.finishedAt == clock.now())
            #expect(try await env.events(id: a.id).last?.to == .expired)
            #expect(try await env.require(id: b.id) == readyB)
            #expect(try await env.require(id: q.id).status == .queued, "queued orders never expire")

            clock.advance(seconds: 100)
            #expect(try await store.expireUncollected(pickupTimeout: 1800).map(\.id) == [b.id])
            #expect(try await store.board().ready == [])
        }
    }

    @Test("pruneFinished deletes old finished orders with their events and keys, and nothing live", arguments: StoreKind.allCases)
    func pruneFinished(kind: StoreKind) async throws {
        let settings = StoreSettings(retry: RetryPolicy(maxAttempts: 1, baseSeconds: 1, maxSeconds: 60))
        try await withStore(kind, settings: settings) { env in
            let store = env.store, clock = env.clock
            let t0 = clock.now()
            let picked = try await store.place(order(), idempotency: IdempotencyKey(key: "picked", requestHash: "h")).order
            let cancelled = try await store.place(order()).order
            let ready = try await store.place(order()).order
            let failed = try await store.place(order()).order
            let queued = try await store.place(order(), idempotency: IdempotencyKey(key: "queued", requestHash: "h")).order
            let lateCancel = try await store.place(order()).order

            let c1 = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(c1.order.id == picked.id)
            _ = try await store.markReady(orderID: picked.id, lease: c1.lease)
            _ = try await store.pickup(ticket: picked.ticket)
            _ = try await store.cancel(ticket: cancelled.ticket)
            let c2 = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(c2.order.id == ready.id)
            _ = try await store.markReady(orderID: ready.id, lease: c2.lease)
            let c3 = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(c3.order.id == failed.id)
            _ = try await store.failAttempt(orderID: failed.id, lease: c3.lease, error: "e", retry: true)
            #expect(try await env.require(id: failed.id).status == .failed)
            clock.advance(seconds: 1000)
            _ = try await store.cancel(ticket: lateCancel.ticket)
            clock.advance(seconds: 1_000_000)   // everything is old now, live orders included

            let eventsBefore = try await env.probe.tableCounts().events
            let gone = [picked.id, cancelled.id, failed.id]
            var goneEvents = 0
            for id in gone { goneEvents += try await env.events(id: id).count }
            #expect(goneEvents == 4 + 2 + 3)

            #expect(try await store.pruneFinished(before: t0.adding(seconds: 500), limit: 0) == 0)
            #expect(try await store.pruneFinished(before: t0.adding(seconds: 500)) == 3)
            for id in gone {
                #expect(try await store.order(id: id) == nil)
                #expect(try await env.probe.scalar("SELECT count(*) FROM order_events WHERE order_id = ?", [id]) == 0)
            }
            #expect(try await env.probe.scalar("SELECT count(*) FROM idempotency_keys WHERE key = 'picked'") == 0)
            #expect(try await store.ticket(picked.ticket)?.order == nil)
            let after = try await env.probe.tableCounts()
            #expect(after.orders == 3)
            #expect(after.events == eventsBefore - goneEvents)
            #expect(after.keys == 1)

            // Live orders stay however old; the late cancel is newer than the cutoff.
            #expect(try await env.require(id: ready.id).status == .ready)
            #expect(try await env.require(id: queued.id).status == .queued)
            #expect(try await env.require(id: lateCancel.id).status == .cancelled)
            #expect(try await env.events(id: ready.id).count == 3)

            #expect(try await store.pruneFinished(before: t0.adding(seconds: 2000)) == 1)
            #expect(try await store.order(id: lateCancel.id) == nil)
            #expect(try await store.pruneFinished(before: clock.now()) == 0)
            #expect(try await env.probe.tableCounts() == TableCounts(orders: 2, events: 3 + 1, keys: 1, lastNumber: 6))
            #expect(try await env.probe.scalar("SELECT count(*) FROM order_events e WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = e.order_id)") == 0,
                    "no dangling references")
        }
    }
}
