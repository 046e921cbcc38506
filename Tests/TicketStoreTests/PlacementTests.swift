import Foundation
import GRDB
import Synchronization
import Testing
import TicketCore
@testable import TicketStore

@Suite("Placement", .timeLimit(.minutes(1)))
struct PlacementTests {
    @Test("1,000 concurrent placements: distinct tickets and numbers, group-committed in batches")
    func concurrentPlacements() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 5000, maxQueued: 5000)) { env in
            let store = env.store
            let placements = try await withThrowingTaskGroup(of: Placement.self) { group in
                for i in 0..<1000 {
                    group.addTask { try await store.place(order(quantity: i % 20 + 1)) }
                }
                return try await group.reduce(into: [Placement]()) { $0.append($1) }
            }
            #expect(placements.count == 1000)
            #expect(placements.allSatisfy { !$0.replayed && $0.statusCode == 202 && $0.order.status == .queued })
            #expect(Set(placements.map(\.order.ticket)).count == 1000)
            #expect(Set(placements.map(\.order.number)).count == 1000)
            #expect(Set(placements.map(\.order.id)).count == 1000)
            // Nothing was free-then-taken twice: numbers are exactly 1…1000, in commit order.
            let byID = placements.map(\.order).sorted { $0.id < $1.id }
            #expect(byID.map(\.number) == Array(1...1000))

            // The writer counts a batch just after resuming its callers.
            try await waitUntil("the writer's statistics to count every request") {
                store.writer.statistics.requests == 1000
            }
            let stats = store.writer.statistics
            #expect(stats.requests == 1000)
            #expect(stats.failedBatches == 0)
            #expect(stats.batches < 500, "\(stats.batches) batches for 1000 placements")
            #expect(stats.largestBatch > 1)

            let counts = try await store.tableCounts()
            #expect(counts == TableCounts(orders: 1000, events: 1000, keys: 0, lastNumber: 1000))
            #expect(try await store.integrityCheck() == "ok")
        }
    }

    @Test("a placement writes the order and exactly one (NULL -> queued) event")
    func placementIsWhole() async throws {
        try await withStore { env in
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
            #expect(try await store.order(ticket: o.ticket) == o)
            let (stored, events) = try #require(try await store.orderWithEvents(id: o.id))
            #expect(stored == o)
            #expect(events == [OrderEventRecord(from: nil, to: .queued, at: TestClock.start, detail: "placed")])
            #expect(try await store.tableCounts() == TableCounts(orders: 1, events: 1, keys: 1, lastNumber: 1))
            #expect(try await store.scalar("SELECT order_id FROM idempotency_keys WHERE key = 'k1'") == Int(o.id))
            #expect(try await store.scalar("SELECT count(*) FROM order_events WHERE order_id = ? AND from_status IS NULL AND to_status = 'queued'",
                                           [o.id]) == 1)
            // Items are stored as JSON that sqlite3 can read.
            #expect(try await store.scalar("SELECT json_extract(items, '$[0].quantity') FROM orders WHERE id = ?", [o.id]) == 2)
        }
    }

    @Test("a refused placement (queue full) leaves no row behind")
    func queueFullLeavesNothing() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 99, maxQueued: 2)) { env in
            let store = env.store
            _ = try await store.place(order())
            _ = try await store.place(order())
            let before = try await store.tableCounts()
            await #expect(throws: StoreError.queueFull) {
                try await store.place(order(), idempotency: IdempotencyKey(key: "full", requestHash: "h"))
            }
            #expect(try await store.tableCounts() == before)
            #expect(before == TableCounts(orders: 2, events: 2, keys: 0, lastNumber: 2))
            // The refused key was not kept: once there is room, it places a new order.
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(claim.order.number == 1)
            let placed = try await store.place(order(), idempotency: IdempotencyKey(key: "full", requestHash: "h"))
            #expect(!placed.replayed)
            #expect(placed.order.number == 3)
        }
    }

    @Test("max_queued counts queued orders only")
    func maxQueuedCountsQueuedOnly() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 99, maxQueued: 1)) { env in
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

    @Test("the queued count kept within a batch sees requeues after placements")
    func queuedCountWithinOneBatch() async throws {
        // Placements cache the queued count for the rest of their batch. A requeue in the same
        // batch raises the real count; a placement after it must see that.
        try await withStore(settings: StoreSettings(maxNumber: 99, maxQueued: 2)) { env in
            let store = env.store
            _ = try await store.place(order())
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            let settings = store.settings, now = env.clock.now()
            // One batch: place (queued 1), the attempt fails and is retried (queued 2), place again.
            let outcome = try await store.writer.write { db, effects -> [String] in
                var outcome: [String] = []
                func place() {
                    do {
                        let p = try store.place(db, order(), ticket: TicketID.generate(), idempotency: nil, statusCode: 202, render: nil,
                                                settings: settings, now: now, effects: &effects)
                        outcome.append("placed \(p.order.number)")
                    } catch {
                        outcome.append("\(error)")
                    }
                }
                place()
                let held = try OrderStore.orderHeld(db, orderID: claim.order.id, lease: claim.lease, now: now)
                _ = try store.endAttempt(db, held, leaseToken: claim.lease, error: "boom", retry: true,
                                         policy: settings.retry, now: now, effects: &effects)
                place()
                return outcome
            }
            #expect(outcome == ["placed 2", StoreError.queueFull.description])
            #expect(try await store.liveCounts()[.queued] == 2)
        }
    }

    @Test("in one batch, a failing placement rolls back alone and the others commit")
    func oneFailureInABatch() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 99, maxQueued: 100)) { env in
            let store = env.store
            let original = try await store.place(order(), idempotency: IdempotencyKey(key: "dup", requestHash: "first"))
            let before = try await store.tableCounts()
            let statsBefore = store.writer.statistics

            // Hold the writer in a batch of its own, then queue six requests behind it.
            let gate = try await WriterGate(store: store)
            let submitted = Counter()
            let keys: [IdempotencyKey?] = [
                IdempotencyKey(key: "a", requestHash: "ha"),
                IdempotencyKey(key: "dup", requestHash: "second"),   // reused with another body
                nil,
                IdempotencyKey(key: "b", requestHash: "hb"),
                nil,
            ]
            let tasks = keys.map { key in
                Task { () -> Result<Placement, StoreError> in
                    submitted.increment()
                    do { return .success(try await store.place(order(), idempotency: key)) }
                    catch let e as StoreError { return .failure(e) }
                    catch { return .failure(.unavailable("\(error)")) }
                }
            }
            // And a request that fails after it has written: its writes must roll back alone.
            struct Boom: Error {}
            let writesThenFails = Task { () -> (any Error)? in
                submitted.increment()
                do {
                    try await store.writer.write { db, effects in
                        try db.execute(sql: "UPDATE ticket_counter SET last_number = 77")
                        try db.execute(sql: "DELETE FROM order_events")
                        effects.workAdded = true
                        throw Boom()
                    }
                    return nil
                } catch {
                    return error
                }
            }
            try await waitUntil("all requests to be submitted") { submitted.current == keys.count + 1 }
            try await gate.open()
            var results: [Result<Placement, StoreError>] = []
            for t in tasks { results.append(await t.value) }
            #expect(await writesThenFails.value is Boom)

            try await waitUntil("the writer's statistics to count the batch") {
                store.writer.statistics.requests == statsBefore.requests + 1 + keys.count + 1
            }
            let stats = store.writer.statistics
            #expect(stats.batches - statsBefore.batches == 2, "the blocker's batch and one batch of six")
            #expect(stats.largestBatch >= 6)
            #expect(stats.failedBatches == 0)

            guard case .failure(let error) = results[1] else {
                Issue.record("reused key must fail, got \(results[1])")
                return
            }
            #expect(error == .idempotencyKeyReused)
            let committed = results.enumerated().compactMap { i, r in i == 1 ? nil : try? r.get() }
            #expect(committed.count == 4)
            // Numbers 2…5: neither failure consumed one (the counter update rolled back).
            #expect(Set(committed.map(\.order.number)) == [2, 3, 4, 5])
            #expect(!committed.contains { $0.order.number == original.order.number })
            for p in committed {
                #expect(!p.replayed)
                let events = try await store.events(id: p.order.id)
                #expect(events.map(\.to) == [.queued])
                #expect(try await store.order(ticket: p.order.ticket) == p.order)
            }
            let after = try await store.tableCounts()
            #expect(after.orders == before.orders + 4)
            #expect(after.events == before.events + 4)
            #expect(after.keys == before.keys + 2)
            #expect(after.lastNumber == 5)
            // The reused key still points at the first order.
            #expect(try await store.scalar("SELECT order_id FROM idempotency_keys WHERE key = 'dup'") == Int(original.order.id))
            #expect(try await store.scalar("SELECT request_hash = 'first' FROM idempotency_keys WHERE key = 'dup'") == 1)
        }
    }

    @Test("writes after the writer is closed fail with closed")
    func closedWriter() async throws {
        try await withStore { env in
            _ = try await env.store.place(order())
            env.store.writer.close()
            await #expect(throws: StoreError.closed) { try await env.store.place(order()) }
            await #expect(throws: StoreError.closed) { try await env.store.claimNext(cook: "c", leaseSeconds: 1) }
            // Reads still work.
            #expect(try await env.store.tableCounts().orders == 1)
        }
    }
}
