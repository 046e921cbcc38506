import GRDB
import Testing
import TicketCore
@testable import TicketStore

@Suite("Ticket numbers", .timeLimit(.minutes(1)))
struct NumberTests {
    @Test("numbers are handed out in order 1, 2, 3 … and wrap at max_number")
    func inOrderAndWrap() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 3, maxQueued: 100)) { env in
            let store = env.store
            var numbers: [Int] = []
            // Each order is finished before the next, so nothing is live and numbers just cycle.
            for _ in 0..<7 {
                let o = try await store.place(order()).order
                numbers.append(o.number)
                _ = try await store.cancel(ticket: o.ticket)
            }
            #expect(numbers == [1, 2, 3, 1, 2, 3, 1])
            #expect(try await store.tableCounts().lastNumber == 1)
        }
    }

    @Test("the next number after the last one handed out that no live order holds")
    func skipsLiveNumbers() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 3, maxQueued: 100)) { env in
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
            #expect(try await store.tableCounts().lastNumber == 2, "a refused placement does not move the counter")

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

    @Test("not lowest-free: a freed low number waits its turn")
    func notLowestFree() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 5, maxQueued: 100)) { env in
            let store = env.store
            var orders: [Order] = []
            for _ in 0..<3 { orders.append(try await store.place(order()).order) }
            _ = try await store.cancel(ticket: orders[0].ticket)           // 1 free
            #expect(try await store.place(order()).order.number == 4)
            #expect(try await store.place(order()).order.number == 5)
            #expect(try await store.place(order()).order.number == 1)       // wrapped, 1 is free
            await #expect(throws: StoreError.numbersExhausted) { try await store.place(order()) }
            let counts = try await store.tableCounts()
            #expect(counts == TableCounts(orders: 6, events: 7, keys: 0, lastNumber: 1))
        }
    }

    @Test("a shrunk max_number starts again at 1")
    func shrunkMaxNumber() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 10, maxQueued: 100)) { env in
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

    @Test("the partial unique index refuses a second live order with the same number")
    func uniqueLiveNumberIndex() async throws {
        try await withStore { env in
            let store = env.store
            let live = try await store.place(order()).order
            let raw = try rawConnection(env.path)
            defer { try? raw.close() }
            func insert(number: Int, status: String, ticket: String) throws {
                try raw.write { db in
                    try db.execute(sql: """
                        INSERT INTO orders (ticket, number, status, priority, items, max_attempts, available_at, created_at)
                        VALUES (?, ?, ?, 'normal', '[]', 3, '2026-11-25T07:00:00.000Z', '2026-11-25T07:00:00.000Z')
                        """, arguments: [ticket, number, status])
                }
            }
            for status in ["queued", "ready"] {
                do {
                    try insert(number: live.number, status: status, ticket: "raw-\(status)")
                    Issue.record("a second live order with number \(live.number) (\(status)) was accepted")
                } catch let error as DatabaseError {
                    #expect(error.resultCode == .SQLITE_CONSTRAINT)
                    #expect(error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE)
                    #expect(error.message?.contains("orders.number") == true, "\(error)")
                }
            }
            // The index is partial: finished orders may share the number, other numbers are fine.
            try insert(number: live.number, status: "cancelled", ticket: "raw-cancelled")
            try insert(number: live.number, status: "picked_up", ticket: "raw-picked-up")
            try insert(number: live.number + 1, status: "queued", ticket: "raw-other")
            #expect(try await store.scalar("SELECT count(*) FROM orders WHERE number = ?", [live.number]) == 3)
            // The store's allocator sees the raw row's number as live and skips it.
            #expect(try await store.place(order()).order.number == live.number + 2)
        }
    }
}
