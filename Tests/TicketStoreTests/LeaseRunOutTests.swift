import Testing
import TicketCore
@testable import TicketStore

/// A lease that has run out is lost at once, before the rescuer's sweep requeues the order
/// (SPEC: renew answers 409 once the lease expired).
@Suite("Lease run out before the sweep", .timeLimit(.minutes(1)))
struct LeaseRunOutTests {
    @Test func expiredLeaseIsRefusedBeforeTheSweep() async throws {
        try await withStore { env in
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
}
