import Testing
import TicketCore
import TicketStore
import TicketTestSupport

/// A lease that has run out is lost at once, before the rescuer's sweep requeues the order
/// (SPEC: renew answers 409 once the lease expired).
@Suite("Lease run out before the sweep", .timeLimit(.minutes(1)))
struct LeaseRunOutTests {
    @Test(arguments: StoreKind.allCases) func expiredLeaseIsRefusedBeforeTheSweep(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)], cookSeconds: 3)).order
            let claim = try #require(try await store.claimNext(cook: "slow", leaseSeconds: 5))
            env.clock.advance(seconds: 5)
            // At the expiry instant it still holds: renewal works and moves the expiry on.
            let renewed = try await store.renewLease(orderID: placed.id, lease: claim.lease, leaseSeconds: 5)
            #expect(renewed == env.clock.now().adding(seconds: 5))
            env.clock.advance(seconds: 5.001)
            await #expect(throws: StoreError.leaseLost) {
                try await store.renewLease(orderID: placed.id, lease: claim.lease, leaseSeconds: 5)
            }
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(orderID: placed.id, lease: claim.lease) }
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(claim) }
            await #expect(throws: StoreError.leaseLost) {
                try await store.failAttempt(orderID: placed.id, lease: claim.lease, error: "late", retry: true)
            }
            // Nothing was changed by the refused calls: still cooking until the rescuer runs.
            let order = try #require(try await store.order(id: placed.id))
            #expect(order.status == .cooking)
            #expect(order.version == 2)
            #expect(try await store.requeueExpiredLeases().map(\.id) == [placed.id])
        }
    }

    /// The in-process cooks' ready (no read before the guarded UPDATE) refuses what the other
    /// form refuses: another lease, a cancelled order, a ready given twice.
    @Test(arguments: StoreKind.allCases) func cooksReadyIsGuardedByTheLeaseAlone(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            for _ in 0..<3 { _ = try await store.place(NewOrder(items: [OrderLine(item: "fries", quantity: 1)])) }
            let claims = try await store.claimNext(cook: "grill", leaseSeconds: 30, limit: 3)
            #expect(claims.count == 3)
            var forged = claims[0]
            forged.lease = claims[1].lease
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(forged) }
            _ = try await store.operatorCancel(id: claims[1].order.id)
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(claims[1]) }
            let ready = try await store.markReady(claims[0])
            #expect(ready.status == .ready && ready.version == 3 && ready.leaseOwner == nil)
            await #expect(throws: StoreError.leaseLost) { try await store.markReady(claims[0]) }
            let events = try #require(try await store.orderWithEvents(id: claims[0].order.id)).1
            #expect(events.map(\.to) == [.queued, .cooking, .ready])
            #expect(events.last?.detail == "cooked by grill")
            #expect(try await store.markReady(claims[2]).status == .ready)
        }
    }

    /// Several claims made ready in one write: the one whose lease is gone fails alone.
    @Test(arguments: StoreKind.allCases) func claimsReadyTogetherFailAlone(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            for _ in 0..<3 { _ = try await store.place(NewOrder(items: [OrderLine(item: "cola", quantity: 1)])) }
            let claims = try await store.claimNext(cook: "fryer", leaseSeconds: 30, limit: 3)
            _ = try await store.operatorCancel(id: claims[1].order.id)
            let results = try await store.markReady(claims)
            #expect(results.count == 3)
            #expect((try? results[0].get())?.status == .ready)
            #expect(results[1] == .failure(.leaseLost))
            #expect((try? results[2].get())?.status == .ready)
            #expect(try await store.order(id: claims[1].order.id)?.status == .cancelled)
            let events = try #require(try await store.orderWithEvents(id: claims[2].order.id)).1
            #expect(events.map(\.to) == [.queued, .cooking, .ready])
            #expect(try await store.orderWithEvents(id: claims[1].order.id)?.1.map(\.to) == [.queued, .cooking, .cancelled])
        }
    }

    /// Claimed and readied rows are worked out in Swift (no RETURNING): they must be what the
    /// table reads back, for a claim of several orders and for their ready in one write.
    @Test(arguments: StoreKind.allCases) func claimsAndReadyTogetherMatchTheTable(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            for i in 0..<5 {
                _ = try await store.place(NewOrder(items: [OrderLine(item: "cola", quantity: i + 1)],
                                                   priority: i == 3 ? .rush : .normal))
            }
            let claims = try await store.claimNext(cook: "fryer", leaseSeconds: 30, limit: 4)
            #expect(claims.count == 4)
            #expect(Set(claims.map(\.lease)).count == 4, "each order its own lease")
            #expect(claims[0].order.priority == .rush, "rush first")
            for claim in claims {
                #expect(try await store.order(id: claim.order.id) == claim.order)
            }
            env.clock.advance(seconds: 1)
            let results = try await store.markReady(claims)
            for (claim, result) in zip(claims, results) {
                let ready = try result.get()
                #expect(ready.status == .ready && ready.version == claim.order.version + 1 && ready.leaseOwner == nil)
                #expect(ready.readyAt == env.clock.now())
                #expect(try await store.order(id: claim.order.id) == ready)
                let events = try #require(try await store.orderWithEvents(id: claim.order.id)).1
                #expect(events.map(\.to) == [.queued, .cooking, .ready])
                #expect(events.map(\.detail) == ["placed", "claimed by fryer (attempt 1 of 3)", "cooked by fryer"])
            }
            // Given again, every lease is gone: each fails alone and nothing changes.
            let again = try await store.markReady(claims)
            #expect(again.allSatisfy { $0 == .failure(.leaseLost) })
            #expect(try await store.orderWithEvents(id: claims[0].order.id)?.1.count == 3)
        }
    }
}
