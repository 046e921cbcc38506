import Foundation
import Testing
import TicketCore
import TicketKitchen
import TicketStore
import TicketTestSupport

@Suite("Leases", .timeLimit(.minutes(1)))
struct LeaseTests {
    @Test("a cook renews its lease: cooking longer than the lease still ends ready, nothing is requeued")
    func leaseIsRenewed() async throws {
        // A 2 s lease renewed every 2/3 s leaves 4/3 s for a renewal's round trip, which a loaded
        // machine running the whole suite in parallel needs (1 s leases flaked there).
        try await withKitchen(kitchen: KitchenSettings(cooks: 1, leaseSeconds: 2)) { env in
            let placed = try await env.place(cookSeconds: 3.5)  // simulated: 3.5 s, the lease is 2 s
            let cooking = try await env.waitForStatus(placed.id, .cooking)
            let firstExpiry = try #require(cooking.leaseExpiresAt)
            let sweeper = env.sweeper()
            var latestExpiry = firstExpiry
            var sweeps = 0
            while true {
                let now = try await env.order(placed.id)
                if now.status != .cooking { break }
                if let e = now.leaseExpiresAt { latestExpiry = max(latestExpiry, e) }
                let result = await sweeper.runOnce(prune: false)
                sweeps += 1
                #expect(result.requeued == 0, "the sweep requeued an order whose cook renews its lease")
                try await Task.sleep(for: .milliseconds(50))  // pace of the sweeps, not a synchronisation
                if sweeps > 300 { Issue.record("still cooking after \(sweeps) sweeps"); break }
            }
            let ready = try await env.waitForStatus(placed.id, .ready)
            #expect(sweeps >= 10, "only \(sweeps) sweeps ran during cooking")
            #expect(latestExpiry.milliseconds >= firstExpiry.milliseconds + 1000,
                    "the lease was not extended: first \(firstExpiry), latest \(latestExpiry)")
            #expect(ready.attempts == 1)
            let cookingFor = try #require(ready.readyAt).milliseconds - (try #require(ready.cookingAt)).milliseconds
            #expect(cookingFor >= 3500, "cooked for \(cookingFor) ms")
            let transitions = try await env.events(placed.id).map { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" }
            #expect(transitions == ["->queued", "queued>cooking", "cooking>ready"])
        }
    }

    @Test("an expired lease is requeued by the sweep and cooked again; the late cook's ready is refused")
    func expiredLeaseIsRequeued() async throws {
        try await withKitchen(kitchen: KitchenSettings(cooks: 1), startKitchen: false) { env in
            let placed = try await env.place()
            let ghost = try #require(try await env.store.claimNext(cook: "ghost", leaseSeconds: 1))
            #expect(ghost.order.id == placed.id)
            #expect(ghost.order.leaseOwner == "ghost")

            // The kitchen runs (one idle cook) while nobody renews the ghost's lease.
            try await env.startKitchen()
            let sweeper = env.sweeper()
            #expect(await sweeper.runOnce(prune: false).requeued == 0, "the lease has not run out yet")
            try await waitUntil("the ghost's lease to run out", timeout: .seconds(5)) {
                env.store.now() > ghost.leaseExpiresAt
            }
            #expect(try await env.order(placed.id).status == .cooking, "nobody else touched it meanwhile")

            let result = await sweeper.runOnce(prune: false)
            #expect(result.requeued == 1)
            let ready = try await env.waitForStatus(placed.id, .ready)
            #expect(ready.attempts == 2, "the ghost's claim counted one attempt")
            #expect(ready.lastError?.contains("ghost") == true, "last error: \(ready.lastError ?? "nil")")

            let events = try await env.events(placed.id)
            #expect(events.map(\.to) == [.queued, .cooking, .queued, .cooking, .ready])
            if events.count == 5 {
                #expect(events[1].detail?.contains("ghost") == true)
                #expect(events[2].detail?.contains("expired") == true, "requeue detail: \(events[2].detail ?? "nil")")
                #expect(events[3].detail?.contains("cook-1") == true)
            }

            // The ghost wakes up: its lease no longer holds, whatever it tries.
            await #expect(throws: StoreError.leaseLost) {
                _ = try await env.store.markReady(orderID: placed.id, lease: ghost.lease)
            }
            await #expect(throws: StoreError.leaseLost) {
                _ = try await env.store.renewLease(orderID: placed.id, lease: ghost.lease, leaseSeconds: 30)
            }
            await #expect(throws: StoreError.leaseLost) {
                _ = try await env.store.failAttempt(orderID: placed.id, lease: ghost.lease, error: "late", retry: true)
            }
            let after = try await env.order(placed.id)
            #expect(after.status == .ready)
            #expect(after.version == ready.version)
        }
    }

    @Test("an operator cancel while cooking revokes the lease: the cook stops and moves on")
    func operatorCancelStopsTheCook() async throws {
        let handler = StoppableHandler()
        try await withKitchen(kitchen: KitchenSettings(cooks: 1, leaseSeconds: 0.6, shutdownGraceSeconds: 0.1),
                              handler: handler) { env in
            let first = try await env.place()
            try await env.waitForStatus(first.id, .cooking)
            try await waitUntil("the handler to be cooking") { handler.entered == 1 }

            let cancelled = try await env.store.operatorCancel(id: first.id)
            #expect(cancelled.status == .cancelled)
            // The next renewal (every lease/3, at least 0.2 s) is refused: the cook stops cooking.
            try await waitUntil("the cook to stop cooking the cancelled order", timeout: .seconds(3)) {
                handler.stopped == 1 && env.kitchen.busyCooks == 0
            }
            let after = try await env.order(first.id)
            #expect(after.status == .cancelled)
            #expect(after.version == cancelled.version, "the cook wrote nothing after losing its lease")
            #expect(after.lastError == nil)

            let second = try await env.place()
            try await env.waitForStatus(second.id, .cooking)
            try await waitUntil("the cook to take the next order") { handler.entered == 2 }
            #expect(try await claimers(env, [second.id]) == ["cook-1"])
        }
    }

    @Test("the running sweeper notices an expired lease and an uncollected order within a second")
    func sweeperServiceNoticesWithinASecond() async throws {
        try await withKitchen(kitchen: KitchenSettings(cooks: 0, pickupTimeoutSeconds: 0.5, sweepIntervalSeconds: 0.5),
                              startKitchen: false) { env in
            let abandoned = try await env.place()
            let collected = try await env.place()
            let ghost = try #require(try await env.store.claimNext(cook: "ghost", leaseSeconds: 1))
            #expect(ghost.order.id == abandoned.id)
            let other = try #require(try await env.store.claimNext(cook: "other", leaseSeconds: 30))
            let ready = try await env.store.markReady(orderID: collected.id, lease: other.lease)
            let readyAt = try #require(ready.readyAt)

            let sweeper = env.sweeper()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await sweeper.run() }
                defer { group.cancelAll() }
                let requeued = try await env.waitForStatus(abandoned.id, .queued, timeout: .seconds(5))
                let expired = try await env.waitForStatus(collected.id, .expired, timeout: .seconds(5))

                let requeuedAt = try #require(try await env.events(abandoned.id).last).at
                let lateRequeue = requeuedAt.milliseconds - ghost.leaseExpiresAt.milliseconds
                #expect(lateRequeue > 0 && lateRequeue < 1000, "requeued \(lateRequeue) ms after the lease ran out")
                #expect(requeued.attempts == 1)

                let expiredAt = try #require(expired.finishedAt)
                let lateExpiry = expiredAt.milliseconds - (readyAt.milliseconds + 500)
                #expect(lateExpiry > 0 && lateExpiry < 1000, "expired \(lateExpiry) ms after the pickup timeout")
            }
        }
    }
}
