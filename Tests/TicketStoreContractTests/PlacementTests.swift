import Foundation
import Synchronization
import Testing
import TicketCore
import TicketStore
import TicketTestSupport

@Suite("Placement", .timeLimit(.minutes(1)))
struct PlacementTests {
    @Test("1,000 concurrent placements: distinct tickets and numbers, group-committed in batches", arguments: StoreKind.allCases)
    func concurrentPlacements(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 5000, maxQueued: 5000)) { env in
            let store = env.store
            let placements = try await withThrowingTaskGroup(of: Placement.self) { group in
                for i in 0..<1000 {
                    // Some with a customer name that JSON and SQL must both escape.
                    let customer = i % 3 == 0 ? "Ana \"\(i)\"\n\\'; --" : nil
                    group.addTask { try await store.place(order(quantity: i % 20 + 1, priority: i % 7 == 0 ? .rush : .normal,
                                                                customer: customer)) }
                }
                return try await group.reduce(into: [Placement]()) { $0.append($1) }
            }
            #expect(placements.count == 1000)
            #expect(placements.allSatisfy { !$0.replayed && $0.statusCode == 202 && $0.order.status == .queued })
            #expect(Set(placements.map(\.order.ticket)).count == 1000)
            #expect(Set(placements.map(\.order.number)).count == 1000)
            #expect(Set(placements.map(\.order.id)).count == 1000)
            for p in placements.prefix(50) {
                #expect(try await store.ticket(p.order.ticket)?.order == p.order)
            }
            // Nothing was free-then-taken twice: numbers are exactly 1…1000, in commit order.
            let byID = placements.map(\.order).sorted { $0.id < $1.id }
            #expect(byID.map(\.number) == Array(1...1000))

            // The writer counts a batch just after resuming its callers.
            try await waitUntil("the writer's statistics to count every request") {
                store.statistics.writes == 1000
            }
            let stats = store.statistics
            #expect(stats.writes == 1000)
            #expect(stats.failedCommits == 0)
            #expect(stats.commits < 500, "\(stats.commits) batches for 1000 placements")
            // No batch had to run again one request at a time (PostgreSQL: the placements of a
            // batch share one statement, which did not fail).
            #expect(stats.reruns == 0)

            let counts = try await env.probe.tableCounts()
            #expect(counts == TableCounts(orders: 1000, events: 1000, keys: 0, lastNumber: 1000))
        }
    }

    @Test("concurrent placements past the queue's limit or the free numbers: the rest refused alone, positions 0…n−1",
          arguments: StoreKind.allCases)
    func concurrentPastTheLimits(kind: StoreKind) async throws {
        for (maxNumber, maxQueued, refusal) in [(500, 20, StoreError.queueFull), (12, 500, StoreError.numbersExhausted)] {
            try await withStore(kind, settings: StoreSettings(maxNumber: maxNumber, maxQueued: maxQueued)) { env in
                let store = env.store
                let results = await withTaskGroup(of: Result<Placement, StoreError>.self) { group in
                    for _ in 0..<60 {
                        group.addTask {
                            do { return .success(try await store.place(order())) } catch let e as StoreError {
                                return .failure(e)
                            } catch {
                                return .failure(.unavailable("\(error)"))
                            }
                        }
                    }
                    return await group.reduce(into: [Result<Placement, StoreError>]()) { $0.append($1) }
                }
                let placed = results.compactMap { if case .success(let p) = $0 { p } else { nil } }
                let refused = results.compactMap { if case .failure(let e) = $0 { e } else { nil } }
                let admitted = min(maxNumber, maxQueued)
                #expect(placed.count == admitted, "\(refusal): \(placed.count) placed")
                #expect(refused.count == 60 - admitted && refused.allSatisfy { $0 == refusal }, "\(refused.prefix(3))")
                #expect(placed.map(\.position).sorted() == Array(0..<admitted))
                #expect(placed.sorted { $0.order.id < $1.order.id }.map(\.order.number) == Array(1...admitted))
                let counts = try await env.probe.tableCounts()
                #expect(counts == TableCounts(orders: admitted, events: admitted, keys: 0, lastNumber: admitted))
            }
        }
    }

    @Test("a batch run again because a request beside its placements failed gives them numbers without a gap",
          arguments: StoreKind.allCases)
    func noGapAfterRerun(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 10_000, maxQueued: 10_000)) { env in
            let store = env.store
            let gone = try await store.place(order()).order
            _ = try await store.cancel(ticket: gone.ticket)
            var placed: [Order] = [gone]
            // Placements and refused cancels at once, until a batch held both (PostgreSQL runs such
            // a batch again one request at a time; SQLite's savepoints never need to).
            for _ in 0..<20 {
                let round = await withTaskGroup(of: Order?.self) { group in
                    for i in 0..<40 {
                        group.addTask {
                            if i % 8 == 7 {
                                _ = try? await store.cancel(ticket: gone.ticket)   // refused: already cancelled
                                return nil
                            }
                            return try? await store.place(order()).order
                        }
                    }
                    return await group.reduce(into: [Order]()) { if let o = $1 { $0.append(o) } }
                }
                #expect(round.count == 35)
                placed += round
                if kind == .sqlite || store.statistics.reruns > 0 { break }
            }
            if kind == .postgres { #expect(store.statistics.reruns > 0, "no batch held a placement beside a refused cancel") }
            #expect(placed.map(\.number).sorted() == Array(1...placed.count), "numbers 1…\(placed.count), none skipped")
            #expect(try await env.probe.tableCounts().lastNumber == placed.count)
        }
    }

    @Test("a placement writes the order and exactly one (NULL -> queued) event", arguments: StoreKind.allCases)
    func placementIsWhole(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let new = NewOrder(items: [OrderLine(item: "cheeseburger", quantity: 2), OrderLine(item: "cola", quantity: 1)],
                               customer: "Ana \"the\" cook", note: "no onions\nplease", priority: .rush, cookSeconds: 8.5)
            let placed = try await store.place(new, idempotency: IdempotencyKey(key: "k1", requestHash: "h1"))
            let o = placed.order
            #expect(!placed.replayed)
            #expect(placed.statusCode == 202)
            #expect(o.number == 1)
            #expect(o.status == .queued)
            #expect(o.version == 1)
            #expect(o.attempts == 0)
            #expect(o.maxAttempts == 3)
            #expect(o.items == new.items)
            #expect(o.customer == new.customer)
            #expect(o.note == new.note)
            #expect(o.priority == .rush)
            #expect(o.cookSeconds == 8.5)
            #expect(o.createdAt == TestClock.start)
            #expect(o.availableAt == TestClock.start)
            #expect(o.cookingAt == nil && o.readyAt == nil && o.finishedAt == nil)
            #expect(o.leaseOwner == nil && o.leaseExpiresAt == nil && o.lastError == nil)
            #expect(TicketID.isWellFormed(o.ticket[...]))

            // Read back through a reader connection: the same order.
            #expect(try await store.ticket(o.ticket)?.order == o)
            let (stored, events) = try #require(try await store.orderWithEvents(id: o.id))
            #expect(stored == o)
            #expect(events == [OrderEventRecord(from: nil, to: .queued, at: TestClock.start, detail: "placed")])
            #expect(try await env.probe.tableCounts() == TableCounts(orders: 1, events: 1, keys: 1, lastNumber: 1))
            #expect(try await env.probe.scalar("SELECT order_id FROM idempotency_keys WHERE key = 'k1'") == Int(o.id))
            #expect(try await env.probe.scalar("SELECT count(*) FROM order_events WHERE order_id = ? AND from_status IS NULL AND to_status = 'queued'",
                                           [o.id]) == 1)
            // Items are stored as JSON that sqlite3 and psql can read.
            #expect(try await env.probe.scalar("SELECT \(env.probe.jsonInteger("items", index: 0, key: "quantity")) FROM orders WHERE id = ?",
                                           [o.id]) == 2)
        }
    }

    @Test("a refused placement (queue full) leaves no row behind", arguments: StoreKind.allCases)
    func queueFullLeavesNothing(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 99, maxQueued: 2)) { env in
            let store = env.store
            _ = try await store.place(order())
            _ = try await store.place(order())
            let before = try await env.probe.tableCounts()
            await #expect(throws: StoreError.queueFull) {
                try await store.place(order(), idempotency: IdempotencyKey(key: "full", requestHash: "h"))
            }
            #expect(try await env.probe.tableCounts() == before)
            #expect(before == TableCounts(orders: 2, events: 2, keys: 0, lastNumber: 2))
            // The refused key was not kept: once there is room, it places a new order.
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(claim.order.number == 1)
            let placed = try await store.place(order(), idempotency: IdempotencyKey(key: "full", requestHash: "h"))
            #expect(!placed.replayed)
            #expect(placed.order.number == 3)
        }
    }

    @Test("max_queued counts queued orders only", arguments: StoreKind.allCases)
    func maxQueuedCountsQueuedOnly(kind: StoreKind) async throws {
        try await withStore(kind, settings: StoreSettings(maxNumber: 99, maxQueued: 1)) { env in
            let store = env.store
            let a = try await store.place(order()).order
            await #expect(throws: StoreError.queueFull) { try await store.place(order()) }
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(claim.order.id == a.id)
            let b = try await store.place(order()).order          // a is cooking now
            await #expect(throws: StoreError.queueFull) { try await store.place(order()) }
            _ = try await store.markReady(orderID: a.id, lease: claim.lease)
            await #expect(throws: StoreError.queueFull) { try await store.place(order()) }
            _ = try await store.cancel(ticket: b.ticket)
            _ = try await store.place(order())
            #expect(try await store.liveCounts() == [.queued: 1, .cooking: 0, .ready: 1])
        }
    }



    @Test("writes after the writer is closed fail with closed", arguments: StoreKind.allCases)
    func closedWriter(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            _ = try await env.store.place(order())
            env.store.stop()
            await #expect(throws: StoreError.closed) { try await env.store.place(order()) }
            await #expect(throws: StoreError.closed) { try await env.store.claimNext(cook: "c", leaseSeconds: 1) }
            // Reads still work.
            #expect(try await env.probe.tableCounts().orders == 1)
        }
    }
}
