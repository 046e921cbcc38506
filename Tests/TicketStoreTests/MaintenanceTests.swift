import Testing
import TicketCore
@testable import TicketStore

@Suite("Reads and sweeps", .timeLimit(.minutes(1)))
struct MaintenanceTests {
    @Test("position is the number of orders claimed before this one")
    func position() async throws {
        try await withStore { env in
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
                    positions[o.id] = store.position(of: o)
                    let (read, position) = try #require(try await store.orderWithPosition(ticket: o.ticket))
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
                let (_, position) = try #require(try await store.orderWithPosition(ticket: claim.order.ticket))
                #expect(position == nil)
            }
            #expect(claimedSoFar == [c.id, e.id, a.id, b.id, d.id])
        }
    }

    @Test("the board lists live numbers as preparing (queued, cooking) or ready")
    func board() async throws {
        try await withStore { env in
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

    @Test("opening the store hands back what an earlier run left cooking (or fails it on its last attempt), before anything can claim")
    func handBackAbandonedAtOpen() async throws {
        let settings = StoreSettings(retry: RetryPolicy(maxAttempts: 2, baseSeconds: 1, maxSeconds: 60))
        let clock = TestClock()
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("t.db").path
            var lastTry: Order?
            var fresh: [Order] = []
            var untouched: Order?
            // The earlier run: claims that it never finishes.
            try await withStore(at: path, settings: settings, clock: clock) { env in
                let store = env.store
                let placed = try await store.place(order()).order
                lastTry = placed
                let c1 = try #require(try await store.claimNext(cook: "old-1", leaseSeconds: 30))
                _ = try await store.failAttempt(orderID: placed.id, lease: c1.lease, error: "e", retry: true)
                clock.advance(seconds: 5)
                let cA = try #require(try await store.claimNext(cook: "old-1", leaseSeconds: 30))   // attempt 2 of 2
                #expect(cA.order.id == placed.id && cA.order.attempts == 2)
                for _ in 0..<3 { fresh.append(try await store.place(order()).order) }
                _ = try #require(try await store.claimNext(cook: "old-2", leaseSeconds: 30))
                _ = try #require(try await store.claimNext(cook: "old-3", leaseSeconds: 30))
                untouched = try await store.require(id: fresh[2].id)
                #expect(untouched?.status == .queued)
            }
            clock.advance(seconds: 1)   // the leases have not even expired: the daemon restarted
            try await withStore(at: path, settings: settings, clock: clock) { env in
                let store = env.store
                let lastTry = try #require(lastTry)
                #expect(Set(store.handedBackAtOpen.map(\.id)) == [lastTry.id, fresh[0].id, fresh[1].id])
                let failed = try await store.require(id: lastTry.id)
                #expect(failed.status == .failed)
                #expect(failed.lastError?.contains("restarted") == true)
                #expect(failed.finishedAt == clock.now())
                for o in fresh.prefix(2) {
                    let back = try await store.require(id: o.id)
                    #expect(back.status == .queued)
                    #expect(back.attempts == 1)
                    #expect(back.availableAt == clock.now(), "claimable at once")
                    #expect(back.leaseOwner == nil && back.leaseExpiresAt == nil && back.cookingAt == nil)
                    #expect(back.lastError?.contains("restarted") == true)
                }
                #expect(try await store.require(id: fresh[2].id) == untouched)
                #expect(try await store.liveCounts() == [.queued: 3, .cooking: 0, .ready: 0])
                // The queue index knows the handed-back orders: positions and claim order (oldest first).
                #expect(store.queuedCount == 3)
                #expect(store.position(of: try await store.require(id: fresh[2].id)) == 2)
                #expect(try await store.claimNext(cook: "new", leaseSeconds: 30)?.order.id == fresh[0].id)
            }
            // Only what the run before left: the one claim it never finished.
            try await withStore(at: path, settings: settings, clock: clock) { env in
                #expect(env.store.handedBackAtOpen.count == 1)   // the claim of the run above, never finished
            }
        }
    }

    @Test("expireUncollected expires ready orders older than the pickup timeout")
    func expireUncollected() async throws {
        try await withStore { env in
            let store = env.store, clock = env.clock
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            let q = try await store.place(order()).order
            let ca = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            _ = try await store.markReady(orderID: a.id, lease: ca.lease)
            clock.advance(seconds: 100)
            let cb = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            _ = try await store.markReady(orderID: b.id, lease: cb.lease)
            let readyB = try await store.require(id: b.id)

            clock.advance(seconds: 1700)   // a ready for 1800 s: not yet beyond the timeout
            #expect(try await store.expireUncollected(pickupTimeout: 1800).isEmpty)
            clock.advance(seconds: 1)
            let expired = try await store.expireUncollected(pickupTimeout: 1800)
            #expect(expired.map(\.id) == [a.id])
            let ea = try await store.require(id: a.id)
            #expect(ea.status == .expired)
            #expect(ea.finishedAt == clock.now())
            #expect(try await store.events(id: a.id).last?.to == .expired)
            #expect(try await store.require(id: b.id) == readyB)
            #expect(try await store.require(id: q.id).status == .queued, "queued orders never expire")

            clock.advance(seconds: 100)
            #expect(try await store.expireUncollected(pickupTimeout: 1800).map(\.id) == [b.id])
            #expect(try await store.board().ready == [])
        }
    }

    @Test("pruneFinished deletes old finished orders with their events and keys, and nothing live")
    func pruneFinished() async throws {
        let settings = StoreSettings(retry: RetryPolicy(maxAttempts: 1, baseSeconds: 1, maxSeconds: 60))
        try await withStore(settings: settings) { env in
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
            #expect(try await store.require(id: failed.id).status == .failed)
            clock.advance(seconds: 1000)
            _ = try await store.cancel(ticket: lateCancel.ticket)
            clock.advance(seconds: 1_000_000)   // everything is old now, live orders included

            let eventsBefore = try await store.tableCounts().events
            let gone = [picked.id, cancelled.id, failed.id]
            var goneEvents = 0
            for id in gone { goneEvents += try await store.events(id: id).count }
            #expect(goneEvents == 4 + 2 + 3)

            #expect(try await store.pruneFinished(before: t0.adding(seconds: 500), limit: 0) == 0)
            #expect(try await store.pruneFinished(before: t0.adding(seconds: 500)) == 3)
            for id in gone {
                #expect(try await store.order(id: id) == nil)
                #expect(try await store.scalar("SELECT count(*) FROM order_events WHERE order_id = ?", [id]) == 0)
            }
            #expect(try await store.scalar("SELECT count(*) FROM idempotency_keys WHERE key = 'picked'") == 0)
            #expect(try await store.order(ticket: picked.ticket) == nil)
            let after = try await store.tableCounts()
            #expect(after.orders == 3)
            #expect(after.events == eventsBefore - goneEvents)
            #expect(after.keys == 1)

            // Live orders stay however old; the late cancel is newer than the cutoff.
            #expect(try await store.require(id: ready.id).status == .ready)
            #expect(try await store.require(id: queued.id).status == .queued)
            #expect(try await store.require(id: lateCancel.id).status == .cancelled)
            #expect(try await store.events(id: ready.id).count == 3)

            #expect(try await store.pruneFinished(before: t0.adding(seconds: 2000)) == 1)
            #expect(try await store.order(id: lateCancel.id) == nil)
            #expect(try await store.pruneFinished(before: clock.now()) == 0)
            #expect(try await store.tableCounts() == TableCounts(orders: 2, events: 3 + 1, keys: 1, lastNumber: 6))
            #expect(try await store.scalar("PRAGMA foreign_key_check") == -1, "no dangling references")
        }
    }
}
