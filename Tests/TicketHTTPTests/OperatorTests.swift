import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketTestSupport

@Suite("Operator API", .timeLimit(.minutes(1)))
struct OperatorTests {
    /// One request of each operator and kitchen route.
    static let operatorRequests: [(HTTPRequest.Method, String, String?)] = [
        (.get, "/v1/orders", nil),
        (.get, "/v1/orders/1", nil),
        (.post, "/v1/orders/1/cancel", nil),
        (.post, "/v1/orders/1/requeue", nil),
        (.post, "/v1/kitchen/claim", #"{"cook":"grill-1"}"#),
        (.post, "/v1/kitchen/orders/1/renew", #"{"lease":"x"}"#),
        (.post, "/v1/kitchen/orders/1/ready", #"{"lease":"x"}"#),
        (.post, "/v1/kitchen/orders/1/fail", #"{"lease":"x"}"#),
    ]

    @Test("with no admin token configured, every operator and kitchen request is 403")
    func disabled() async throws {
        try await withAPI(adminToken: nil) { h in
            let order = try await h.place()
            try await h.test { client in
                for (method, path, body) in Self.operatorRequests {
                    let response = try await client.authorized(method, path, body: body)
                    let problem = expectProblem(response, .forbidden)
                    #expect(problem["detail"].string?.contains("admin_token_file") == true, "\(path): \(response.text)")
                }
            }
            #expect(try await h.store.order(id: order.id)?.status == .queued, "nothing was claimed or cancelled")
        }
    }

    @Test("a missing or wrong token is 401 with WWW-Authenticate: Bearer")
    func unauthorized() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test { client in
                for (method, path, body) in Self.operatorRequests {
                    let missing = try await client.execute(uri: path, method: method, headers: jsonHeaders,
                                                           body: body.map { ByteBuffer(string: $0) })
                    expectProblem(missing, .unauthorized)
                    #expect(missing.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(path)")
                }
                for header in ["Bearer wrong-token", "Bearer secret-token-and-more", "Bearer secret-toke",
                               "Basic c2VjcmV0LXRva2Vu", "secret-token", "Bearer "] {
                    let wrong = try await client.get("/v1/orders", headers: [.authorization: header])
                    expectProblem(wrong, .unauthorized)
                    #expect(wrong.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(header)")
                }
                // The scheme is case-insensitive.
                #expect(try await client.get("/v1/orders", headers: [.authorization: "bearer secret-token"]).status == .ok)
            }
            #expect(try await h.store.order(id: order.id)?.status == .queued)
        }
    }

    @Test("GET /v1/orders lists every field oldest first, filters by status and pages with next")
    func listOrders() async throws {
        try await withAPI { h in
            var orders: [Order] = []
            for _ in 0..<5 { orders.append(try await h.place()) }
            let placed = orders
            _ = try await h.claim()   // the first one cooks
            try await h.test { client in
                let all = try await client.authorized(.get, "/v1/orders")
                #expect(all.status == .ok)
                #expect(all.headers[.contentType] == "application/json")
                let orders = try #require(all.json["orders"].array)
                #expect(orders.map { $0["id"].int64 } == placed.map(\.id))
                #expect(all.json["next"].isNull)
                let first = orders[0]
                #expect(first["ticket"].string == placed[0].ticket)
                #expect(first["status"].string == "cooking")
                #expect(first["attempts"].int == 1)
                #expect(first["lease_owner"].string == "test-cook")
                #expect(first["last_error"].isNull)
                for key in ["id", "ticket", "number", "status", "version", "priority", "items", "attempts",
                            "max_attempts", "last_error", "created_at", "available_at"] {
                    #expect(!first[key].isMissing, "operator view has \(key)")
                }

                let queued = try await client.authorized(.get, "/v1/orders?status=queued")
                #expect(queued.json["orders"].array?.map { $0["id"].int64 } == placed.dropFirst().map(\.id))
                let cooking = try await client.authorized(.get, "/v1/orders?status=cooking")
                #expect(cooking.json["orders"].array?.map { $0["id"].int64 } == [placed[0].id])
                let failed = try await client.authorized(.get, "/v1/orders?status=failed")
                #expect(failed.json["orders"].array?.isEmpty == true)

                // Paging through the five with limit 2.
                var seen: [Int64] = []
                var pages: [Int] = []
                var cursor: String?
                repeat {
                    let uri = "/v1/orders?limit=2" + (cursor.map { "&after=\($0)" } ?? "")
                    let page = try await client.authorized(.get, uri)
                    #expect(page.status == .ok, "\(page.text)")
                    let ids = page.json["orders"].array?.compactMap { $0["id"].int64 } ?? []
                    pages.append(ids.count)
                    seen += ids
                    cursor = page.json["next"].string
                    if page.json["next"].isMissing { Issue.record("next is always present"); break }
                } while cursor != nil && pages.count < 10
                #expect(pages == [2, 2, 1])
                #expect(seen == placed.map(\.id))
            }
        }
    }

    @Test("bad list parameters are 422 naming them", arguments: [
        ("status=eaten", "status"), ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=two", "limit"),
        ("after=-1", "after"), ("after=abc", "after"),
    ])
    func badListParameters(_ query: String, _ field: String) async throws {
        try await withAPI { h in
            try await h.test { client in
                expectValidation(try await client.authorized(.get, "/v1/orders?\(query)"), field: field)
            }
        }
    }

    @Test("GET /v1/orders/{id} has the order with its events; an unknown id is 404")
    func orderWithEvents() async throws {
        try await withAPI { h in
            let order = try await h.place()
            let claim = try await h.claim()
            _ = try await h.store.markReady(orderID: order.id, lease: claim.lease)
            try await h.test { client in
                let response = try await client.authorized(.get, "/v1/orders/\(order.id)")
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                let o = response.json
                #expect(o["id"].int64 == order.id)
                #expect(o["ticket"].string == order.ticket)
                #expect(o["status"].string == "ready")
                #expect(o["version"].int == 3)
                let events = try #require(o["events"].array)
                #expect(events.map { $0["from"].string } == [nil, "queued", "cooking"])
                #expect(events[0]["from"].isNull)
                #expect(events.map { $0["to"].string } == ["queued", "cooking", "ready"])
                #expect(events.allSatisfy { isRFC3339Millis($0["at"].string) })
                #expect(events.allSatisfy { !$0["detail"].isMissing })

                expectProblem(try await client.authorized(.get, "/v1/orders/999999"), .notFound)
                expectProblem(try await client.authorized(.get, "/v1/orders/abc"), .notFound)
                expectProblem(try await client.authorized(.post, "/v1/orders/999999/cancel"), .notFound)
                expectProblem(try await client.authorized(.post, "/v1/orders/999999/requeue"), .notFound)
            }
        }
    }

    @Test("cancel of a cooking order is 200 cancelled and revokes its lease")
    func cancelCooking() async throws {
        try await withAPI { h in
            let order = try await h.place()
            let claim = try await h.claim()
            try await h.test { client in
                let response = try await client.authorized(.post, "/v1/orders/\(order.id)/cancel")
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.json["status"].string == "cancelled")
                #expect(response.json["lease_owner"].isNull)
                #expect(isRFC3339Millis(response.json["finished_at"].string))

                // The cook's late ready is refused.
                let late = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/ready",
                                                       body: #"{"lease":"\#(claim.lease)"}"#)
                expectProblem(late, .conflict)
                // Cancelling a final order is a conflict.
                expectProblem(try await client.authorized(.post, "/v1/orders/\(order.id)/cancel"), .conflict)
            }
            #expect(try await h.store.order(id: order.id)?.status == .cancelled)
        }
    }

    @Test("requeue of a failed order is 200 queued with fresh attempts; of a queued one 409")
    func requeue() async throws {
        try await withAPI { h in
            let order = try await h.place()
            let claim = try await h.claim()
            let failed = try await h.store.failAttempt(orderID: order.id, lease: claim.lease, error: "grill on fire", retry: false)
            #expect(failed.status == .failed)
            let other = try await h.place()
            try await h.test { client in
                let response = try await client.authorized(.post, "/v1/orders/\(order.id)/requeue")
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.json["status"].string == "queued")
                #expect(response.json["attempts"].int == 0)
                #expect(response.json["finished_at"].isNull)

                expectProblem(try await client.authorized(.post, "/v1/orders/\(other.id)/requeue"), .conflict)
            }
            // It is claimable again.
            let again = try await h.claim()
            #expect(again.order.id == order.id)
            #expect(again.order.attempts == 1)
        }
    }
}
