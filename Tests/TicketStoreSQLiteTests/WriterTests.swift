import Foundation
import GRDB
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// What only the SQLite store does: one writer's batches and savepoints, parked claims, the
/// partial unique index under an outside writer, hand-back when the store opens.
@Suite("SQLite store: the writer, its batches and parked claims", .timeLimit(.minutes(1)))
struct WriterTests {
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
                        let p = try store.place(db, order(), ticket: TicketID.generate(), idempotency: nil,
                                                answer: PlacementAnswer(estimate: ReadyEstimate(cooks: 1)),
                                                settings: settings, now: now, effects: &effects)
                        outcome.append("placed \(p.order.number)")
                    } catch {
                        outcome.append("\(error)")
                    }
                }
                place()
                let held = try SQLiteOrderStore.orderHeld(db, orderID: claim.order.id, lease: claim.lease, now: now)
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
            let before = try await env.probe.tableCounts()
            let statsBefore = store.statistics

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
            let tasks = Self.placements(store, keys: keys, submitted: submitted)
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
                store.statistics.writes == statsBefore.writes + 1 + keys.count + 1
            }
            let stats = store.statistics
            #expect(stats.commits - statsBefore.commits == 2, "the blocker's batch and one batch of six")
            #expect(store.writer.statistics.largestBatch >= 6)
            #expect(stats.failedCommits == 0)
            // The batch ran first without savepoints; the request that failed after writing
            // made it run again, with a savepoint per request.
            #expect(stats.reruns - statsBefore.reruns == 1)

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
                let events = try await env.events(id: p.order.id)
                #expect(events.map(\.to) == [.queued])
                #expect(try await store.order(ticket: p.order.ticket) == p.order)
            }
            let after = try await env.probe.tableCounts()
            #expect(after.orders == before.orders + 4)
            #expect(after.events == before.events + 4)
            #expect(after.keys == before.keys + 2)
            #expect(after.lastNumber == 5)
            // The reused key still points at the first order.
            #expect(try await env.probe.scalar("SELECT order_id FROM idempotency_keys WHERE key = 'dup'") == Int(original.order.id))
            #expect(try await env.probe.scalar("SELECT request_hash = 'first' FROM idempotency_keys WHERE key = 'dup'") == 1)
        }
    }

    @Test("a request refused before it writes needs no savepoint: its batch runs once, one counter write")
    func refusedWithoutWritingRunsOnce() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 99, maxQueued: 100)) { env in
            let store = env.store
            _ = try await store.place(order(), idempotency: IdempotencyKey(key: "dup", requestHash: "first"))
            let statsBefore = store.statistics
            let gate = try await WriterGate(store: store)
            let submitted = Counter()
            let keys: [IdempotencyKey?] = [nil, IdempotencyKey(key: "dup", requestHash: "second"), nil, nil]
            let tasks = Self.placements(store, keys: keys, submitted: submitted)
            try await waitUntil("all requests to be submitted") { submitted.current == keys.count }
            try await gate.open()
            var results: [Result<Placement, StoreError>] = []
            for t in tasks { results.append(await t.value) }
            try await waitUntil("the writer's statistics to count the batch") {
                store.statistics.writes == statsBefore.writes + 1 + keys.count
            }
            let stats = store.statistics
            #expect(stats.commits - statsBefore.commits == 2, "the blocker's batch and one batch of four")
            #expect(stats.reruns == statsBefore.reruns, "nothing to roll back: no second run")
            guard case .failure(let error) = results[1] else {
                Issue.record("reused key must fail, got \(results[1])")
                return
            }
            #expect(error == .idempotencyKeyReused)
            let numbers = results.compactMap { try? $0.get().order.number }
            #expect(Set(numbers) == [2, 3, 4])
            #expect(try await env.probe.tableCounts().lastNumber == 4)
        }
    }

    /// One placement task per key (nil: none), each counted in `submitted` as it starts.
    static func placements(_ store: SQLiteOrderStore, keys: [IdempotencyKey?],
                           submitted: Counter) -> [Task<Result<Placement, StoreError>, Never>] {
        keys.map { key in
            Task { () -> Result<Placement, StoreError> in
                submitted.increment()
                do { return .success(try await store.place(order(), idempotency: key)) }
                catch let e as StoreError { return .failure(e) }
                catch { return .failure(.unavailable("\(error)")) }
            }
        }
    }

    @Test("a requeue that makes a number live again is seen by the placements after it in the same batch")
    func requeueThenPlacementInOneBatch() async throws {
        try await withStore(settings: StoreSettings(maxNumber: 10, maxQueued: 100)) { env in
            let store = env.store
            // Number 9 goes to an order that then fails (final); everything else is finished and
            // the numbers wrap until the last handed out is 3, with nothing live.
            var placed: [Order] = []
            for _ in 0..<9 { placed.append(try await store.place(order()).order) }
            let failed = placed[8]
            let claim = try await store.claim(orderID: failed.id, cook: "c", leaseSeconds: 30)
            _ = try await store.failAttempt(orderID: failed.id, lease: claim.lease, error: "e", retry: false)
            for o in placed.prefix(8) { _ = try await store.cancel(ticket: o.ticket) }
            for _ in 0..<4 { _ = try await store.cancel(ticket: try await store.place(order()).order.ticket) }
            #expect(try await env.probe.tableCounts().lastNumber == 3)
            // One batch: a placement (it reads the highest live number: none, then holds 4), the
            // operator's requeue of 9, then five placements: 5, 6, 7, 8, and 10, not 9.
            let gate = try await WriterGate(store: store)
            var tasks: [Task<Order, any Error>] = []
            func submit(_ body: @escaping @Sendable () async throws -> Order) async throws {
                let before = store.writer.pendingCount
                tasks.append(Task { try await body() })
                try await waitUntil("request \(tasks.count) to wait for the batch") { store.writer.pendingCount == before + 1 }
            }
            try await submit { try await store.place(order()).order }
            try await submit { try await store.requeue(id: failed.id) }
            for _ in 0..<5 { try await submit { try await store.place(order()).order } }
            let batch = store.writer.currentBatch
            try await gate.open()
            var results: [Order] = []
            for t in tasks { results.append(try await t.value) }
            #expect(store.writer.currentBatch == batch + 1, "one batch")
            #expect(results[1].status == .queued && results[1].number == 9)
            #expect(results.map(\.number) == [4, 9, 5, 6, 7, 8, 10])
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
            #expect(try await env.probe.scalar("SELECT count(*) FROM orders WHERE number = ?", [Int64(live.number)]) == 3)
            // The store's allocator sees the raw row's number as live and skips it.
            #expect(try await store.place(order()).order.number == live.number + 2)
        }
    }

    @Test("a parked claim is made by the batch that places work, and commits with it")
    func parkedClaimCommitsWithThePlacement() async throws {
        try await withStore { env in
            let store = env.store
            let parked = store.parkClaim(cooks: ["idle", "idle"], leaseSeconds: 30) { true }
            let placed = try await store.place(order(customer: "A")).order
            // Claimed before the cook even looked: the placement's commit carried the claim.
            let stored = try await env.require(id: placed.id)
            #expect(stored.status == .cooking && stored.leaseOwner == "idle" && stored.attempts == 1)
            let claims = await store.unpark(parked)
            #expect(claims.map(\.order.id) == [placed.id])
            #expect(claims.first?.order == stored)
            let events = try #require(try await store.orderWithEvents(id: placed.id)).1
            #expect(events.map(\.to) == [.queued, .cooking])
            #expect(try await store.markReady(claims[0]).status == .ready)
        }
    }

    @Test("a parked claim withdrawn before any work came claims nothing later; a write without work leaves it parked")
    func parkedClaimWithdrawn() async throws {
        try await withStore { env in
            let store = env.store
            let first = try await store.place(order()).order
            let taken = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            let parked = store.parkClaim(cooks: ["idle"], leaseSeconds: 30) { true }
            // A ready adds no work: the parked claim stays parked.
            _ = try await store.markReady(taken)
            #expect(await store.unpark(parked).isEmpty)
            let placed = try await store.place(order()).order
            #expect(try await env.require(id: placed.id).status == .queued)
            #expect(first.id != placed.id)
            // A cook that is to leave by the time the batch runs claims nothing.
            let leaving = store.parkClaim(cooks: ["leaving"], leaseSeconds: 30) { false }
            let another = try await store.place(order()).order
            #expect(await store.unpark(leaving).isEmpty)
            #expect(try await env.require(id: another.id).status == .queued)
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
                untouched = try await env.require(id: fresh[2].id)
                #expect(untouched?.status == .queued)
            }
            clock.advance(seconds: 1)   // the leases have not even expired: the daemon restarted
            try await withStore(at: path, settings: settings, clock: clock) { env in
                let store = env.store
                let lastTry = try #require(lastTry)
                #expect(Set(store.handedBackAtOpen.map(\.id)) == [lastTry.id, fresh[0].id, fresh[1].id])
                let failed = try await env.require(id: lastTry.id)
                #expect(failed.status == .failed)
                #expect(failed.lastError?.contains("restarted") == true)
                #expect(failed.finishedAt == clock.now())
                for o in fresh.prefix(2) {
                    let back = try await env.require(id: o.id)
                    #expect(back.status == .queued)
                    #expect(back.attempts == 1)
                    #expect(back.availableAt == clock.now(), "claimable at once")
                    #expect(back.leaseOwner == nil && back.leaseExpiresAt == nil && back.cookingAt == nil)
                    #expect(back.lastError?.contains("restarted") == true)
                }
                #expect(try await env.require(id: fresh[2].id) == untouched)
                #expect(try await store.liveCounts() == [.queued: 3, .cooking: 0, .ready: 0])
                // The queue index knows the handed-back orders: positions and claim order (oldest first).
                #expect(store.queuedCount == 3)
                #expect(try await store.position(of: try await env.require(id: fresh[2].id)) == 2)
                #expect(try await store.claimNext(cook: "new", leaseSeconds: 30)?.order.id == fresh[0].id)
            }
            // Only what the run before left: the one claim it never finished.
            try await withStore(at: path, settings: settings, clock: clock) { env in
                #expect(env.store.handedBackAtOpen.count == 1)   // the claim of the run above, never finished
            }
        }
    }
}
