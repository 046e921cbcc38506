import Testing
import TicketCore
import TicketStore
import TicketTestSupport

@Suite("Kitchen: claims, leases, attempts", .timeLimit(.minutes(1)))
struct KitchenTests {
    @Test("claims take rush before normal, then first come first served; nil when empty", arguments: StoreKind.allCases)
    func claimOrder(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            #expect(try await store.claimNext(cook: "c", leaseSeconds: 30) == nil)
            let a = try await store.place(order(customer: "A")).order
            let b = try await store.place(order(customer: "B")).order
            let c = try await store.place(order(priority: .rush, customer: "C")).order
            let d = try await store.place(order(customer: "D")).order
            var claimed: [Int64] = []
            while let claim = try await store.claimNext(cook: "c", leaseSeconds: 30) {
                claimed.append(claim.order.id)
            }
            #expect(claimed == [c.id, a.id, b.id, d.id])
            #expect(try await store.claimNext(cook: "c", leaseSeconds: 30) == nil)
            #expect(try await store.liveCounts() == [.queued: 0, .cooking: 4, .ready: 0])
        }
    }

    @Test("one claim for several cooks: the i-th order in claim order is leased to the i-th cook, events and ready name each",
          arguments: StoreKind.allCases)
    func claimForSeveralCooks(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let a = try await store.place(order(customer: "A")).order
            let b = try await store.place(order(customer: "B")).order
            let c = try await store.place(order(priority: .rush, customer: "C")).order
            _ = try await store.place(order(customer: "D")).order
            let claims = try await store.claim(cooks: ["cook-2", "cook-5", "cook-5"], leaseSeconds: 30, until: .now) { true }
            #expect(claims.map(\.order.id) == [c.id, a.id, b.id])
            #expect(claims.map(\.order.leaseOwner) == ["cook-2", "cook-5", "cook-5"])
            for claim in claims {
                #expect(try await store.order(id: claim.order.id)?.leaseOwner == claim.order.leaseOwner)
                let events = try await env.events(id: claim.order.id)
                #expect(events.last?.detail == "claimed by \(claim.order.leaseOwner ?? "?") (attempt 1 of 3)")
            }
            #expect(try await store.liveCounts() == [.queued: 1, .cooking: 3, .ready: 0])
            // Ready together: each event names its own cook.
            let ready = try await store.markReady(claims)
            #expect(ready.allSatisfy { if case .success(let o) = $0 { o.status == .ready } else { false } })
            for claim in claims {
                let events = try await env.events(id: claim.order.id)
                #expect(events.last?.detail == "cooked by \(claim.order.leaseOwner ?? "?")")
            }
            // More cooks than orders: each order once.
            let rest = try await store.claim(cooks: ["x", "y", "z"], leaseSeconds: 30, until: .now) { true }
            #expect(rest.map(\.order.leaseOwner) == ["x"])
        }
    }

    @Test("a claim counts an attempt, sets the lease, cooking status and version + 1", arguments: StoreKind.allCases)
    func claimFields(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            env.clock.advance(seconds: 2)
            let now = env.clock.now()
            let claim = try #require(try await store.claimNext(cook: "grill-1", leaseSeconds: 30))
            let o = claim.order
            #expect(o.id == placed.id)
            #expect(o.status == .cooking)
            #expect(o.version == placed.version + 1)
            #expect(o.attempts == 1)
            #expect(o.leaseOwner == "grill-1")
            #expect(o.leaseExpiresAt == now.adding(seconds: 30))
            #expect(claim.leaseExpiresAt == now.adding(seconds: 30))
            #expect(o.cookingAt == now)
            #expect(o.readyAt == nil && o.finishedAt == nil)
            // The claim's random token, a dot and the order id.
            let parts = claim.lease.split(separator: ".")
            #expect(parts.count == 2 && TicketID.isWellFormed(parts[0]) && parts.last.map(String.init) == String(o.id))
            #expect(try await store.order(id: o.id) == o)
            // The lease token is stored (and is not the ticket).
            #expect(try await env.probe.scalar("SELECT count(*) FROM orders WHERE id = ? AND lease_token = '\(claim.lease)'", [o.id]) == 1)
            #expect(claim.lease != o.ticket)
            let events = try await env.events(id: o.id)
            #expect(events.count == 2)
            #expect(events.last?.from == .queued && events.last?.to == .cooking && events.last?.at == now)
            #expect(events.last?.detail?.contains("grill-1") == true)
        }
    }

    @Test("an expired lease puts the order back; the old lease is lost; a fresh one renews and finishes", arguments: StoreKind.allCases)
    func leaseExpiry(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store, clock = env.clock
            let placed = try await store.place(order()).order
            let first = try #require(try await store.claimNext(cook: "slow", leaseSeconds: 10))

            // Exactly at the expiry the lease still holds; a millisecond later it has run out.
            clock.advance(seconds: 10)
            #expect(try await store.requeueExpiredLeases().isEmpty)
            clock.advance(seconds: 1)
            let now = clock.now()
            let requeued = try await store.requeueExpiredLeases()
            #expect(requeued.map(\.id) == [placed.id])
            let back = try await env.require(id: placed.id)
            #expect(requeued.first == back)
            #expect(back.status == .queued)
            #expect(back.attempts == 1)
            #expect(back.version == 3)
            #expect(back.lastError?.contains("expired") == true)
            #expect(back.leaseOwner == nil && back.leaseExpiresAt == nil && back.cookingAt == nil)
            // Backoff after one attempt with base 1 s: [0.5 s, 1 s].
            #expect(back.availableAt >= now.adding(seconds: 0.5) && back.availableAt <= now.adding(seconds: 1),
                    "available at \(back.availableAt), now \(now)")
            #expect(try await env.events(id: placed.id).last?.to == .queued)

            // The first cook comes back late: nothing changes.
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: first.lease) }
            await #expect(throws: StoreError.leaseLost) {
                try await store.renewLease(orderID: placed.id, lease: first.lease, leaseSeconds: 10)
            }
            await #expect(throws: StoreError.leaseLost) {
                try await store.failAttempt(orderID: placed.id, lease: first.lease, error: "late", retry: true)
            }
            #expect(try await env.require(id: placed.id) == back)

            // Not claimable before its backoff ends.
            #expect(try await store.claimNext(cook: "fast", leaseSeconds: 10) == nil)
            clock.set(back.availableAt)
            let second = try #require(try await store.claimNext(cook: "fast", leaseSeconds: 10))
            #expect(second.order.attempts == 2)
            #expect(second.lease != first.lease)
            // The old lease does not hold the new attempt either.
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: first.lease) }

            // Renewal moves the expiry and is not a transition.
            clock.advance(seconds: 8)
            let renewedUntil = try await store.renewLease(orderID: placed.id, lease: second.lease, leaseSeconds: 10)
            #expect(renewedUntil == clock.now().adding(seconds: 10))
            let renewed = try await env.require(id: placed.id)
            #expect(renewed.leaseExpiresAt == renewedUntil)
            #expect(renewed.version == second.order.version)
            clock.advance(seconds: 5)   // past the first expiry, within the renewed one
            #expect(try await store.requeueExpiredLeases().isEmpty)

            let ready = try await store.markReady(orderID: placed.id, lease: second.lease)
            #expect(ready.status == .ready)
            #expect(ready.version == second.order.version + 1)
            #expect(ready.readyAt == clock.now())
            #expect(ready.leaseOwner == nil && ready.leaseExpiresAt == nil)
            #expect(ready.finishedAt == nil)
            #expect(ready.attempts == 2)
            // Ready exactly once.
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: second.lease) }
            #expect(try await env.require(id: placed.id) == ready)
        }
    }

    @Test("an expired lease on the last attempt fails the order", arguments: StoreKind.allCases)
    func leaseExpiryNoAttemptsLeft(kind: StoreKind) async throws {
        let settings = StoreSettings(retry: RetryPolicy(maxAttempts: 1, baseSeconds: 1, maxSeconds: 60))
        try await withStore(kind, settings: settings) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            #expect(placed.maxAttempts == 1)
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 10))
            env.clock.advance(seconds: 11)
            let changed = try await store.requeueExpiredLeases()
            #expect(changed.count == 1)
            let failed = try await env.require(id: placed.id)
            #expect(failed.status == .failed)
            #expect(failed.attempts == 1)
            #expect(failed.finishedAt == env.clock.now())
            #expect(failed.lastError?.contains("expired") == true)
            #expect(failed.leaseOwner == nil)
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: claim.lease) }
            #expect(try await store.claimNext(cook: "c", leaseSeconds: 10) == nil)
        }
    }

    @Test("a failed attempt with retry waits out its backoff; without attempts left the order fails; requeue starts afresh", arguments: StoreKind.allCases)
    func failAttempts(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store, clock = env.clock
            let placed = try await store.place(order()).order
            var version = placed.version
            for attempt in 1...2 {
                let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
                #expect(claim.order.attempts == attempt)
                let now = clock.now()
                let back = try await store.failAttempt(orderID: placed.id, lease: claim.lease, error: "boom \(attempt)", retry: true)
                #expect(back.status == .queued)
                #expect(back.attempts == attempt)
                #expect(back.lastError == "boom \(attempt)")
                #expect(back.version == version + 2)
                version = back.version
                let ceiling = Double(1 << (attempt - 1))
                #expect(back.availableAt >= now.adding(seconds: ceiling / 2) && back.availableAt <= now.adding(seconds: ceiling))
                // Not claimable until the clock reaches available_at.
                #expect(try await store.claimNext(cook: "c", leaseSeconds: 30) == nil)
                clock.set(back.availableAt.adding(seconds: -0.001))
                #expect(try await store.claimNext(cook: "c", leaseSeconds: 30) == nil)
                #expect(try await store.sweepOutsideWrites() == false, "nothing claimable yet")
                clock.set(back.availableAt)
                #expect(try await store.sweepOutsideWrites(), "claimable now: work is signalled")
            }
            // Third run of three: no attempts left, even with retry.
            let last = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(last.order.attempts == 3)
            let failed = try await store.failAttempt(orderID: placed.id, lease: last.lease, error: "burnt", retry: true)
            #expect(failed.status == .failed)
            #expect(failed.lastError == "burnt")
            #expect(failed.finishedAt == clock.now())
            #expect(failed.leaseOwner == nil)
            #expect(try await store.claimNext(cook: "c", leaseSeconds: 30) == nil)
            let events = try await env.events(id: placed.id)
            #expect(events.last?.from == .cooking && events.last?.to == .failed)
            #expect(events.last?.detail?.contains("burnt") == true)

            clock.advance(seconds: 60)
            let requeued = try await store.requeue(id: placed.id)
            #expect(requeued.status == .queued)
            #expect(requeued.attempts == 0)
            #expect(requeued.lastError == nil)
            #expect(requeued.finishedAt == nil && requeued.cookingAt == nil && requeued.readyAt == nil)
            #expect(requeued.availableAt == clock.now())
            #expect(requeued.version == failed.version + 1)
            let again = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(again.order.id == placed.id && again.order.attempts == 1)
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .cooking, event: .operatorRequeue))) {
                try await store.requeue(id: placed.id)
            }
        }
    }

    @Test("a failed attempt without retry fails the order at once, attempts left or not", arguments: StoreKind.allCases)
    func failWithoutRetry(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            let failed = try await store.failAttempt(orderID: placed.id, lease: claim.lease, error: "no such item", retry: false)
            #expect(failed.status == .failed)
            #expect(failed.attempts == 1)
            #expect(failed.lastError == "no such item")
            #expect(failed.finishedAt != nil)
        }
    }

    @Test("lease operations on a wrong lease or unknown order", arguments: StoreKind.allCases)
    func wrongLease(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: "nope") }  // queued
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: TicketID.generate()) }
            await #expect(throws: StoreError.leaseLost) {
                try await store.renewLease(orderID: placed.id, lease: TicketID.generate(), leaseSeconds: 5)
            }
            await #expect(throws: StoreError.notFound) { try await store.markReady(orderID: 9999, lease: claim.lease) }
            await #expect(throws: StoreError.notFound) { try await store.renewLease(orderID: 9999, lease: claim.lease, leaseSeconds: 5) }
            await #expect(throws: StoreError.notFound) {
                try await store.failAttempt(orderID: 9999, lease: claim.lease, error: "x", retry: true)
            }
            #expect(try await env.require(id: placed.id) == claim.order)
        }
    }

    @Test("hand back puts the order straight back in the queue, keeping the attempt", arguments: StoreKind.allCases)
    func handBack(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            env.clock.advance(seconds: 1)
            let back = try await store.handBack(orderID: placed.id, lease: claim.lease, reason: "shutting down")
            #expect(back.status == .queued)
            #expect(back.attempts == 1)
            #expect(back.availableAt == env.clock.now())
            #expect(back.version == claim.order.version + 1)
            #expect(back.leaseOwner == nil)
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: claim.lease) }
            let again = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(again.order.attempts == 2)
        }
    }



    @Test("a claim of one order by id: only while queued, in any place of the queue; a second claim is refused",
          arguments: StoreKind.allCases)
    func claimByID(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let first = try await store.place(order()).order
            let second = try await store.place(order()).order
            let claim = try await store.claim(orderID: second.id, cook: "screen-1", leaseSeconds: 60)
            #expect(claim.order.id == second.id && claim.order.status == .cooking && claim.order.attempts == 1)
            #expect(claim.order.leaseOwner == "screen-1" && claim.leaseExpiresAt == env.clock.now().adding(seconds: 60))
            #expect(try await store.order(id: second.id) == claim.order)
            #expect(try await env.events(id: second.id).last?.detail == "claimed by screen-1 (attempt 1 of 3)")
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .cooking, event: .claim))) {
                try await store.claim(orderID: second.id, cook: "screen-2", leaseSeconds: 60)
            }
            await #expect(throws: StoreError.notFound) { try await store.claim(orderID: 9999, cook: "screen-2", leaseSeconds: 60) }
            // The first order is still next, at position 0; the lease works like any other.
            #expect(try await store.position(of: first) == 0)
            #expect(try await store.markReady(orderID: second.id, lease: claim.lease).status == .ready)
        }
    }
}
