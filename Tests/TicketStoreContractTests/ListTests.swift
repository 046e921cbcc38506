import Testing
import TicketCore
import TicketStore
import TicketTestSupport

/// The operators' lists (`GET /v1/orders?status=S&after=CURSOR`): oldest first within a status,
/// every order once when paged with the cursor, whatever the priorities.
@Suite("Operators' lists by status", .timeLimit(.minutes(1)))
struct ListTests {
    /// Pages through `status` `limit` orders at a time, following the last id as the cursor.
    static func paged(_ store: any OrderStore, _ status: OrderStatus?, limit: Int) async throws -> [Int64] {
        var ids: [Int64] = []
        var after: Int64?
        for _ in 0..<100 {
            let page = try await store.listOrders(status: status, limit: limit, after: after)
            #expect(page.count <= limit)
            ids += page.map(\.id)
            if let status { #expect(page.allSatisfy { $0.status == status }) }
            guard let last = page.last, page.count == limit else { break }
            after = last.id
        }
        return ids
    }

    @Test("each status oldest first, rush and normal orders merged by id, paged without gaps",
          arguments: StoreKind.allCases)
    func listsByStatus(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            var placed: [Order] = []
            for i in 0..<23 {
                // Rush orders in runs and alone, so that the two priorities interleave by id.
                let rush = i % 5 == 0 || i % 7 == 3 || i % 7 == 4
                placed.append(try await store.place(order(priority: rush ? .rush : .normal)).order)
            }
            // Claims take rush first: four cooking, two of them then ready, one picked up.
            let claims = try await store.claimNext(cook: "c", leaseSeconds: 3600, limit: 4)
            #expect(claims.count == 4)
            for claim in claims.prefix(2) { _ = try await store.markReady(orderID: claim.order.id, lease: claim.lease) }
            _ = try await store.pickup(ticket: claims[0].order.ticket)
            _ = try await store.cancel(ticket: placed[1].ticket)
            _ = try await store.cancel(ticket: placed[12].ticket)

            var expected: [OrderStatus: [Int64]] = [:]
            for o in placed {
                let now = try await env.require(id: o.id)
                expected[now.status, default: []].append(now.id)
            }
            #expect(expected[.queued]?.count == 17)
            for status in OrderStatus.allCases {
                for limit in [1, 3, 50] {
                    let ids = try await Self.paged(store, status, limit: limit)
                    #expect(ids == expected[status, default: []], "\(status), \(limit) a page")
                }
            }
            #expect(try await Self.paged(store, nil, limit: 4) == placed.map(\.id))
        }
    }
}
