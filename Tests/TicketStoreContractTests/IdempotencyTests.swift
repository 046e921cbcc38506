import Testing
import TicketCore
import TicketStore
import TicketTestSupport

@Suite("Idempotency", .timeLimit(.minutes(1)))
struct IdempotencyTests {
    @Test("the same key and hash returns the original order, replayed, and creates nothing", arguments: StoreKind.allCases)
    func replay(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let key = IdempotencyKey(key: "retry-me", requestHash: "abc")
            let first = try await store.place(order(customer: "Ana"), idempotency: key)
            #expect(!first.replayed)
            let before = try await env.probe.tableCounts()
            env.clock.advance(seconds: 30)
            let again = try await store.place(order(customer: "Ana"), idempotency: key)
            #expect(again.replayed)
            #expect(again.order == first.order)
            #expect(again.statusCode == 202, "the original answer's status code")
            #expect(try await env.probe.tableCounts() == before)
            #expect(try await env.events(id: first.order.id).count == 1)

            // A replay after the order moved on answers with its current state, still creating nothing.
            _ = try await store.cancel(ticket: first.order.ticket)
            let later = try await store.place(order(customer: "Ana"), idempotency: key)
            #expect(later.replayed)
            #expect(later.order.id == first.order.id)
            #expect(later.order.status == .cancelled)
            #expect(try await env.probe.tableCounts().orders == 1)
        }
    }

    @Test("the same key with a different hash is refused and leaves nothing behind", arguments: StoreKind.allCases)
    func reusedKey(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let first = try await store.place(order(), idempotency: IdempotencyKey(key: "k", requestHash: "one"))
            let before = try await env.probe.tableCounts()
            await #expect(throws: StoreError.idempotencyKeyReused) {
                try await store.place(order("cola"), idempotency: IdempotencyKey(key: "k", requestHash: "two"))
            }
            #expect(try await env.probe.tableCounts() == before)
            #expect(before == TableCounts(orders: 1, events: 1, keys: 1, lastNumber: 1))
            // The key is still bound to the first request.
            let again = try await store.place(order(), idempotency: IdempotencyKey(key: "k", requestHash: "one"))
            #expect(again.replayed && again.order.id == first.order.id)
            // Other keys are independent.
            let other = try await store.place(order(), idempotency: IdempotencyKey(key: "k2", requestHash: "two"))
            #expect(!other.replayed && other.order.number == 2)
        }
    }

    @Test("20 concurrent placements with one key and hash create exactly one order", arguments: StoreKind.allCases)
    func concurrentSameKey(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let key = IdempotencyKey(key: "storm", requestHash: "same-body")
            let results = try await withThrowingTaskGroup(of: Placement.self) { group in
                for _ in 0..<20 { group.addTask { try await store.place(order(), idempotency: key) } }
                return try await group.reduce(into: [Placement]()) { $0.append($1) }
            }
            #expect(results.count == 20)
            #expect(Set(results.map(\.order.id)).count == 1)
            #expect(Set(results.map(\.order.ticket)).count == 1)
            #expect(results.filter { !$0.replayed }.count == 1)
            #expect(results.filter(\.replayed).count == 19)
            #expect(try await env.probe.tableCounts() == TableCounts(orders: 1, events: 1, keys: 1, lastNumber: 1))
        }
    }
}
