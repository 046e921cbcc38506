import Testing
import TicketCore
import TicketStore
import TicketTestSupport

@Suite("Ticket numbers", .timeLimit(.minutes(1)))
struct NumberTests {
    @Test("numbers are handed out in order 1, 2, 3 … and wrap at max_number", arguments: StoreKind.allCases)
    func inOrderAndWrap(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 3, maxQueued: 100)) { env in
            let store = env.store
            var numbers: [Int] = []
            // Each order is finished before the next, so nothing is live and numbers just cycle.
            for _ in 0..<7 {
                let o = try await store.place(order()).order
                numbers.append(o.number)
                _ = try await store.cancel(ticket: o.ticket)
            }
            #expect(numbers == [1, 2, 3, 1, 2, 3, 1])
            #expect(try await env.probe.tableCounts().lastNumber == 1)
        }
    }

    @Test("the next number after the last one handed out that no live order holds", arguments: StoreKind.allCases)
    func skipsLiveNumbers(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 3, maxQueued: 100)) { env in
            let store = env.store
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            let c = try await store.place(order()).order
            #expect([a.number, b.number, c.number] == [1, 2, 3])

            // Free #2 (cancelled). Last handed out is 3: candidates 1 (live), 2 (free).
            _ = try await store.cancel(ticket: b.ticket)
            let d = try await store.place(order()).order
            #expect(d.number == 2)

            // All of 1, 2, 3 live again.
            await #expect(throws: StoreError.numbersExhausted) { try await store.place(order()) }
            #expect(try await env.probe.tableCounts().lastNumber == 2, "a refused placement does not move the counter")

            // Free #1 by cooking and collecting it: after 2 comes 3 (live), then 1.
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(claim.order.id == a.id)
            _ = try await store.markReady(orderID: a.id, lease: claim.lease)
            await #expect(throws: StoreError.numbersExhausted) { try await store.place(order()) }  // ready still holds 1
            _ = try await store.pickup(ticket: a.ticket)
            let e = try await store.place(order()).order
            #expect(e.number == 1)
        }
    }

    @Test("not lowest-free: a freed low number waits its turn", arguments: StoreKind.allCases)
    func notLowestFree(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 5, maxQueued: 100)) { env in
            let store = env.store
            var orders: [Order] = []
            for _ in 0..<3 { orders.append(try await store.place(order()).order) }
            _ = try await store.cancel(ticket: orders[0].ticket)           // 1 free
            #expect(try await store.place(order()).order.number == 4)
            #expect(try await store.place(order()).order.number == 5)
            #expect(try await store.place(order()).order.number == 1)       // wrapped, 1 is free
            await #expect(throws: StoreError.numbersExhausted) { try await store.place(order()) }
            let counts = try await env.probe.tableCounts()
            #expect(counts == TableCounts(orders: 6, events: 7, keys: 0, lastNumber: 1))
        }
    }

    @Test("a shrunk max_number starts again at 1", arguments: StoreKind.allCases)
    func shrunkMaxNumber(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 10, maxQueued: 100)) { env in
            let store = env.store
            for _ in 0..<6 {
                let o = try await store.place(order()).order
                if o.number != 2 { _ = try await store.cancel(ticket: o.ticket) }
            }
            store.update(settings: StoreSettings(maxNumber: 4, maxQueued: 100))
            // last = 6 is out of range: candidates 1 (free), …
            #expect(try await store.place(order()).order.number == 1)
            #expect(try await store.place(order()).order.number == 3)   // 2 is live
        }
    }

}
