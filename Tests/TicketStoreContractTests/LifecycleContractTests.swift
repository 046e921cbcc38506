import Testing
import TicketCore
import TicketStore
import TicketTestSupport

/// Every operation of the store on an order in every status does what `Lifecycle` says: the
/// legal ones move it (one version, one event), the others are refused and change nothing.
@Suite("Every transition and every refused one, as the lifecycle says", .timeLimit(.minutes(2)))
struct LifecycleContractTests {
    /// The store operations that are transitions of one order.
    enum Operation: String, CaseIterable, Sendable {
        case cancel, pickup, operatorCancel, requeue, markReady, failWithRetry, failWithoutRetry, handBack

        var event: OrderEvent {
            switch self {
            case .cancel: return .cancel
            case .pickup: return .pickup
            case .operatorCancel: return .operatorCancel
            case .requeue: return .operatorRequeue
            case .markReady: return .done
            case .failWithRetry: return .attemptFailed(attemptsLeft: true)
            case .failWithoutRetry: return .attemptFailed(attemptsLeft: false)
            case .handBack: return .handBack
            }
        }

        func run(on store: any OrderStore, _ order: Order, lease: String) async throws -> Order {
            switch self {
            case .cancel: return try await store.cancel(ticket: order.ticket)
            case .pickup: return try await store.pickup(ticket: order.ticket)
            case .operatorCancel: return try await store.operatorCancel(id: order.id)
            case .requeue: return try await store.requeue(id: order.id)
            case .markReady: return try await store.markReady(orderID: order.id, lease: lease)
            case .failWithRetry: return try await store.failAttempt(orderID: order.id, lease: lease, error: "e", retry: true)
            case .failWithoutRetry: return try await store.failAttempt(orderID: order.id, lease: lease, error: "e", retry: false)
            case .handBack: return try await store.handBack(orderID: order.id, lease: lease, reason: "test")
            }
        }
    }

    /// Places an order and drives it to `status`; returns it with the lease of its last claim.
    static func drive(to status: OrderStatus, _ env: StoreHarness) async throws -> (Order, String) {
        let store = env.store
        let placed = try await store.place(order()).order
        var lease = "no-lease-\(placed.id)"
        func claim() async throws {
            let claims = try await store.claimNext(cook: "cook", leaseSeconds: 3600, limit: 100)
            lease = try #require(claims.first { $0.order.id == placed.id }).lease
        }
        switch status {
        case .queued: break
        case .cooking: try await claim()
        case .ready: try await claim(); _ = try await store.markReady(orderID: placed.id, lease: lease)
        case .pickedUp:
            try await claim(); _ = try await store.markReady(orderID: placed.id, lease: lease)
            _ = try await store.pickup(ticket: placed.ticket)
        case .cancelled: _ = try await store.cancel(ticket: placed.ticket)
        case .failed: try await claim(); _ = try await store.failAttempt(orderID: placed.id, lease: lease, error: "e", retry: false)
        case .expired:
            try await claim(); _ = try await store.markReady(orderID: placed.id, lease: lease)
            env.clock.advance(seconds: 120)
            let expired = try await store.expireUncollected(pickupTimeout: 60)
            #expect(expired.contains { $0.id == placed.id })
        }
        let now = try #require(try await store.order(id: placed.id))
        #expect(now.status == status)
        return (now, lease)
    }

    @Test("each operation in each status: done as the lifecycle says, or refused with nothing changed",
          arguments: StoreKind.allCases)
    func everyOperationInEveryStatus(kind: StoreKind) async throws {
        let settings = StoreSettings(maxNumber: 9999, maxQueued: 9999, retry: RetryPolicy(maxAttempts: 5, baseSeconds: 0, maxSeconds: 0))
        try await withStore(kind, settings: settings) { env in
            let store = env.store
            for status in OrderStatus.allCases {
                for operation in Operation.allCases {
                    let (before, lease) = try await Self.drive(to: status, env)
                    let eventsBefore = try await env.events(id: before.id).count
                    let expected = Lifecycle.apply(operation.event, to: status)
                    let label = "\(operation.rawValue) on a \(status.rawValue) order"
                    do {
                        let after = try await operation.run(on: store, before, lease: lease)
                        guard case .success(let transition) = expected else {
                            Issue.record("\(label) should be refused, but it made the order \(after.status.rawValue)")
                            continue
                        }
                        #expect(after.status == transition.to, "\(label)")
                        #expect(after.version == before.version + 1, "\(label)")
                        #expect(try await store.order(id: before.id) == after, "\(label): the answer is what was stored")
                        #expect(try await env.events(id: before.id).count == eventsBefore + 1, "\(label): one event")
                    } catch let error as StoreError {
                        if case .success = expected {
                            Issue.record("\(label) should succeed, but was refused: \(error)")
                        }
                        switch error {
                        case .invalidTransition, .leaseLost: break
                        default: Issue.record("\(label) refused with \(error), not as a transition")
                        }
                        #expect(try await store.order(id: before.id) == before, "\(label): a refusal changes nothing")
                        #expect(try await env.events(id: before.id).count == eventsBefore, "\(label): and records nothing")
                    }
                }
            }
        }
    }

    @Test("positions agree with a count of the queued orders in claim order, through a mix of changes",
          arguments: StoreKind.allCases)
    func positionsAgainstACount(kind: StoreKind) async throws {
        var rng = SeededGenerator(seed: 42)
        let settings = StoreSettings(maxNumber: 9999, maxQueued: 9999, retry: RetryPolicy(maxAttempts: 9, baseSeconds: 0, maxSeconds: 0))
        try await withStore(kind, settings: settings) { env in
            let store = env.store
            var claims: [Claim] = []
            for step in 0..<120 {
                switch rng.next() % 6 {
                case 0, 1, 2:
                    _ = try await store.place(order(priority: rng.next() % 4 == 0 ? .rush : .normal))
                case 3:
                    if let claim = try await store.claimNext(cook: "c", leaseSeconds: 3600) { claims.append(claim) }
                case 4:
                    if !claims.isEmpty {
                        let claim = claims.remove(at: Int(rng.next() % UInt64(claims.count)))
                        _ = try await store.failAttempt(orderID: claim.order.id, lease: claim.lease, error: "e", retry: true)
                    }
                default:
                    let queued = try await store.listOrders(status: .queued, limit: 1000, after: nil)
                    if !queued.isEmpty { _ = try await store.cancel(ticket: queued[Int(rng.next() % UInt64(queued.count))].ticket) }
                }
                guard step % 10 == 9 else { continue }
                // The count: queued orders, rush first, then oldest.
                let queued = try await store.listOrders(status: .queued, limit: 1000, after: nil)
                let claimOrder = queued.sorted { ($0.priority == .rush ? 0 : 1, $0.id) < ($1.priority == .rush ? 0 : 1, $1.id) }
                for (expected, order) in claimOrder.enumerated() {
                    #expect(try await store.position(of: order) == expected, "step \(step), order \(order.id)")
                    #expect(try await store.ticket(order.ticket)?.position == expected, "step \(step), order \(order.id)")
                }
            }
        }
    }
}
