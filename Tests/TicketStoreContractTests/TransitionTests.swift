import Testing
import TicketCore
import TicketStore
import TicketTestSupport

@Suite("Customer and operator transitions", .timeLimit(.minutes(1)))
struct TransitionTests {
    @Test("the customer cancels a queued order; once cooking it is too late", arguments: StoreKind.allCases)
    func customerCancel(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            env.clock.advance(seconds: 3)
            let cancelled = try await store.cancel(ticket: a.ticket)
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.finishedAt == env.clock.now())
            #expect(cancelled.version == 2)
            #expect(try await env.events(id: a.id).map(\.to) == [.queued, .cancelled])
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .cancelled, event: .cancel))) {
                try await store.cancel(ticket: a.ticket)
            }

            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(claim.order.id == b.id, "a cancelled order is never claimed")
            let reruns = store.statistics.reruns
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .cooking, event: .cancel))) {
                try await store.cancel(ticket: b.ticket)
            }
            #expect(try await env.require(id: b.id) == claim.order)
            #expect(try await env.events(id: b.id).count == 2)
            #expect(store.statistics.reruns == reruns, "a refused request alone in its batch is not run again")
        }
    }

    @Test("an operator cancels a cooking order; the cook's lease is revoked", arguments: StoreKind.allCases)
    func operatorCancelCooking(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            let cancelled = try await store.operatorCancel(id: placed.id)
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.finishedAt == env.clock.now())
            #expect(cancelled.leaseOwner == nil && cancelled.leaseExpiresAt == nil)
            #expect(cancelled.version == claim.order.version + 1)
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: claim.lease) }
            await #expect(throws: StoreError.leaseLost) { try await store.renewLease(orderID: placed.id, lease: claim.lease, leaseSeconds: 5) }
            await #expect(throws: StoreError.leaseLost) {
                try await store.failAttempt(orderID: placed.id, lease: claim.lease, error: "x", retry: true)
            }
            #expect(try await env.require(id: placed.id) == cancelled)
            // Nor does the rescuer touch it later.
            env.clock.advance(seconds: 60)
            #expect(try await store.requeueExpiredLeases().isEmpty)
        }
    }

    @Test("an operator cancels queued and ready orders, but nothing final", arguments: StoreKind.allCases)
    func operatorCancelOthers(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            #expect(try await store.operatorCancel(id: b.id).status == .cancelled)
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            _ = try await store.markReady(orderID: a.id, lease: claim.lease)
            let cancelled = try await store.operatorCancel(id: a.id)
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.readyAt != nil && cancelled.finishedAt != nil)
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .cancelled, event: .operatorCancel))) {
                try await store.operatorCancel(id: a.id)
            }
            await #expect(throws: StoreError.notFound) { try await store.operatorCancel(id: 4242) }
            await #expect(throws: StoreError.notFound) { try await store.requeue(id: 4242) }
        }
    }

    @Test("pickup collects a ready order only", arguments: StoreKind.allCases)
    func pickup(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .queued, event: .pickup))) {
                try await store.pickup(ticket: placed.ticket)
            }
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .cooking, event: .pickup))) {
                try await store.pickup(ticket: placed.ticket)
            }
            _ = try await store.markReady(orderID: placed.id, lease: claim.lease)
            env.clock.advance(seconds: 42)
            let collected = try await store.pickup(ticket: placed.ticket)
            #expect(collected.status == .pickedUp)
            #expect(collected.finishedAt == env.clock.now())
            #expect(try await env.probe.scalar("SELECT count(*) FROM orders WHERE id = ? AND status = 'picked_up'", [placed.id]) == 1)
            await #expect(throws: StoreError.invalidTransition(InvalidTransition(from: .pickedUp, event: .pickup))) {
                try await store.pickup(ticket: placed.ticket)
            }
        }
    }

    @Test("unknown tickets are not found", arguments: StoreKind.allCases)
    func unknownTicket(kind: StoreKind) async throws {
        try await withStore(kind) { env async throws in
            let store = env.store
            let unknown = TicketID.generate()
            await #expect(throws: StoreError.notFound) { try await store.cancel(ticket: unknown) }
            await #expect(throws: StoreError.notFound) { try await store.pickup(ticket: unknown) }
            #expect(try await store.ticket(unknown)?.order == nil)
            #expect(try await store.ticket(unknown).map { ($0.order, $0.position) } == nil)
            #expect(try await env.probe.tableCounts() == TableCounts(orders: 0, events: 0, keys: 0, lastNumber: 0))
        }
    }

    @Test("every transition bumps version by exactly one and adds exactly one event", arguments: StoreKind.allCases)
    func versionAndEventPerTransition(kind: StoreKind) async throws {
        let settings = StoreSettings(retry: RetryPolicy(maxAttempts: 3, baseSeconds: 1, maxSeconds: 60))
        try await withStore(kind, settings: settings) { env in
            let store = env.store, clock = env.clock
            let placed = try await store.place(order()).order
            var seen = (version: placed.version, events: 1)
            #expect(seen.version == 1)

            /// Runs one step and checks it is exactly one transition `from` -> `to`.
            func step(_ from: OrderStatus, _ to: OrderStatus, _ sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> Void) async throws {
                clock.advance(seconds: 1)
                try await body()
                let (o, events) = try #require(try await store.orderWithEvents(id: placed.id), sourceLocation: sourceLocation)
                #expect(o.status == to, sourceLocation: sourceLocation)
                #expect(o.version == seen.version + 1, sourceLocation: sourceLocation)
                #expect(events.count == seen.events + 1, sourceLocation: sourceLocation)
                #expect(events.last?.from == from && events.last?.to == to, sourceLocation: sourceLocation)
                #expect(events.last?.at == clock.now(), sourceLocation: sourceLocation)
                seen = (o.version, events.count)
            }
            func claim() async throws -> Claim {
                try #require(try await store.claimNext(cook: "c", leaseSeconds: 10))
            }

            var lease = ""
            try await step(.queued, .cooking) { lease = try await claim().lease }
            try await step(.cooking, .queued) { _ = try await store.failAttempt(orderID: placed.id, lease: lease, error: "e", retry: true) }
            clock.advance(seconds: 5)   // past the backoff
            try await step(.queued, .cooking) { lease = try await claim().lease }
            try await step(.cooking, .failed) { _ = try await store.failAttempt(orderID: placed.id, lease: lease, error: "e", retry: false) }
            try await step(.failed, .queued) { _ = try await store.requeue(id: placed.id) }
            try await step(.queued, .cooking) { lease = try await claim().lease }
            // Renewal is not a transition: no version, no event.
            _ = try await store.renewLease(orderID: placed.id, lease: lease, leaseSeconds: 10)
            #expect(try await env.require(id: placed.id).version == seen.version)
            try await step(.cooking, .queued) { _ = try await store.handBack(orderID: placed.id, lease: lease, reason: "shutdown") }
            try await step(.queued, .cooking) { lease = try await claim().lease }
            clock.advance(seconds: 11)
            try await step(.cooking, .queued) { _ = try await store.requeueExpiredLeases() }   // attempt 2 of 3
            clock.advance(seconds: 5)
            try await step(.queued, .cooking) { lease = try await claim().lease }
            try await step(.cooking, .ready) { _ = try await store.markReady(orderID: placed.id, lease: lease) }
            try await step(.ready, .pickedUp) { _ = try await store.pickup(ticket: placed.ticket) }
            #expect(try await env.require(id: placed.id).attempts == 3)
            #expect(seen.version == 13)

            // The other final transitions, on fresh orders.
            let b = try await store.place(order()).order
            seen = (b.version, 1)
            func stepB(_ from: OrderStatus, _ to: OrderStatus, _ body: () async throws -> Void) async throws {
                try await body()
                let (o, events) = try #require(try await store.orderWithEvents(id: b.id))
                #expect(o.version == seen.version + 1 && events.count == seen.events + 1)
                #expect(events.last?.from == from && events.last?.to == to && o.status == to)
                seen = (o.version, events.count)
            }
            try await stepB(.queued, .cooking) { lease = try await claim().lease }
            try await stepB(.cooking, .ready) { _ = try await store.markReady(orderID: b.id, lease: lease) }
            clock.advance(seconds: 100)
            try await stepB(.ready, .expired) { _ = try await store.expireUncollected(pickupTimeout: 10) }

            // A refused transition changes nothing.
            await #expect(throws: StoreError.self) { try await store.pickup(ticket: b.ticket) }
            let (o, events) = try #require(try await store.orderWithEvents(id: b.id))
            #expect(o.version == seen.version && events.count == seen.events)
        }
    }
}
