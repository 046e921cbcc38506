import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketTestSupport

@Suite("Kitchen API", .timeLimit(.minutes(1)))
struct KitchenTests {
    @Test("a claim with nothing queued and wait 0 is 204")
    func claimNothing() async throws {
        try await withAPI { h in
            try await h.test { client in
                let response = try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"grill-1","wait":0}"#)
                #expect(response.status == .noContent)
                #expect(response.body.readableBytes == 0)
                let noWait = try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"grill-1"}"#)
                #expect(noWait.status == .noContent)
            }
        }
    }

    @Test("a waiting claim gets an order placed while it waits, promptly")
    func claimWaits() async throws {
        try await withAPI(alone: true) { h in
            try await h.test { client in
                let writesBefore = h.store.statistics.writes
                let start = ContinuousClock.now
                async let claimed = client.authorized(.post, "/v1/kitchen/claim",
                                                      body: #"{"cook":"grill-1","lease_seconds":30,"wait":2}"#)
                // The claim tried once and found nothing; now it waits.
                try await waitUntil("the claim's first attempt") { h.store.statistics.writes > writesBefore }
                let placedAt = ContinuousClock.now
                let placed = try await client.placeOrder(orderBody([("cheeseburger", 1)]))
                #expect(placed.status == .accepted)
                let response = try await claimed
                let sincePlacing = ContinuousClock.now - placedAt
                let total = ContinuousClock.now - start
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                let order = response.json["order"]
                #expect(order["ticket"].string == placed.json["ticket"].string)
                #expect(order["status"].string == "cooking")
                #expect(order["version"].int == 2)
                #expect(order["attempts"].int == 1)
                #expect(order["lease_owner"].string == "grill-1")
                #expect(order["items"] == JSON.parse(#"[{"item":"cheeseburger","quantity":1}]"#))
                #expect(order["id"].int64 != nil)
                #expect(response.json["lease"].string?.isEmpty == false)
                #expect(isRFC3339Millis(response.json["lease_expires_at"].string))
                #expect(sincePlacing < .milliseconds(500), "claimed \(sincePlacing.seconds) s after the placement")
                #expect(total < .seconds(2), "the claim did not wait out its wait (\(total.seconds) s)")
            }
        }
    }

    @Test("a waiting claim with nothing coming is 204 after wait")
    func claimTimesOut() async throws {
        try await withAPI { h in
            try await h.test { client in
                let start = ContinuousClock.now
                let response = try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"grill-1","wait":0.3}"#)
                let elapsed = ContinuousClock.now - start
                #expect(response.status == .noContent)
                #expect(elapsed >= .milliseconds(300), "\(elapsed.seconds) s")
                // Ends at its wait, not at the long-poll cap (60 s); room for a loaded machine
                // (3.7 s was seen with every suite running at once on two cores).
                #expect(elapsed < .seconds(15), "\(elapsed.seconds) s")
            }
        }
    }

    @Test("rush orders are claimed before normal ones, then first come first served")
    func rushFirst() async throws {
        try await withAPI { h in
            try await h.test { client in
                let normal1 = try await client.placeOrder(orderBody())
                let normal2 = try await client.placeOrder(orderBody())
                let rush = try await client.placeOrder(orderBody(priority: "rush"))
                var claimed: [String?] = []
                for _ in 0..<3 {
                    let response = try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"grill-1"}"#)
                    #expect(response.status == .ok)
                    claimed.append(response.json["order"]["ticket"].string)
                }
                #expect(claimed == [rush, normal1, normal2].map { $0.json["ticket"].string })
            }
        }
    }

    @Test("renew with the lease is 200 with a later expiry; with another lease 409")
    func renew() async throws {
        try await withAPI { h in
            let order = try await h.place()
            let claim = try await h.claim()
            try await h.test { client in
                let renewed = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/renew",
                                                          body: #"{"lease":"\#(claim.lease)","lease_seconds":600}"#)
                #expect(renewed.status == .ok, "\(renewed.text)")
                #expect(renewed.headers[.contentType] == "application/json")
                #expect(renewed.json["lease"].string == claim.lease)
                let expires = try #require(renewed.json["lease_expires_at"].string)
                #expect(isRFC3339Millis(expires))
                #expect(expires > claim.leaseExpiresAt.rfc3339, "\(expires) after \(claim.leaseExpiresAt)")

                let wrong = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/renew",
                                                        body: #"{"lease":"not-the-lease"}"#)
                expectProblem(wrong, .conflict)
                let unknown = try await client.authorized(.post, "/v1/kitchen/orders/999999/renew",
                                                          body: #"{"lease":"\#(claim.lease)"}"#)
                expectProblem(unknown, .notFound)
            }
            #expect(try await h.store.order(id: order.id)?.leaseExpiresAt?.rfc3339 ?? "" > claim.leaseExpiresAt.rfc3339)
        }
    }

    @Test("ready with the lease is 200 ready; with another lease 409")
    func ready() async throws {
        try await withAPI { h in
            let order = try await h.place()
            let claim = try await h.claim()
            try await h.test { client in
                let wrong = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/ready",
                                                        body: #"{"lease":"not-the-lease"}"#)
                expectProblem(wrong, .conflict)

                let response = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/ready",
                                                           body: #"{"lease":"\#(claim.lease)"}"#)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.json["status"].string == "ready")
                #expect(response.json["id"].int64 == order.id)
                #expect(isRFC3339Millis(response.json["ready_at"].string))
                #expect(response.json["lease_owner"].isNull)

                // Exactly-once ready: the same lease again is refused.
                let again = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/ready",
                                                        body: #"{"lease":"\#(claim.lease)"}"#)
                expectProblem(again, .conflict)
            }
            #expect(try await h.store.ticket(order.ticket)?.order.status == .ready)
        }
    }

    @Test("fail with retry false is failed with last_error kept; with retry it goes back to the queue")
    func fail() async throws {
        try await withAPI { h in
            let first = try await h.place()
            let second = try await h.place()
            let claimFirst = try await h.claim()
            let claimSecond = try await h.claim()
            try await h.test { client in
                let response = try await client.authorized(
                    .post, "/v1/kitchen/orders/\(first.id)/fail",
                    body: #"{"lease":"\#(claimFirst.lease)","error":"grill on fire","retry":false}"#)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.json["status"].string == "failed")
                #expect(response.json["last_error"].string == "grill on fire")
                #expect(isRFC3339Millis(response.json["finished_at"].string))

                let retried = try await client.authorized(
                    .post, "/v1/kitchen/orders/\(second.id)/fail",
                    body: #"{"lease":"\#(claimSecond.lease)","error":"out of buns","retry":true}"#)
                #expect(retried.status == .ok, "\(retried.text)")
                #expect(retried.json["status"].string == "queued")
                #expect(retried.json["last_error"].string == "out of buns")
                #expect(retried.json["attempts"].int == 1)

                let stale = try await client.authorized(
                    .post, "/v1/kitchen/orders/\(second.id)/fail", body: #"{"lease":"\#(claimSecond.lease)"}"#)
                expectProblem(stale, .conflict)
            }
            let stored = try #require(try await h.store.order(id: first.id))
            #expect(stored.status == .failed)
            #expect(stored.lastError == "grill on fire")
        }
    }

    @Test("bad kitchen bodies are 422 naming the field", arguments: [
        ("/v1/kitchen/claim", #"{"lease_seconds":30}"#, "cook"),
        ("/v1/kitchen/claim", #"{"cook":""}"#, "cook"),
        ("/v1/kitchen/claim", #"{"cook":42}"#, "cook"),
        ("/v1/kitchen/claim", #"{"cook":"grill-1","lease_seconds":0}"#, "lease_seconds"),
        ("/v1/kitchen/claim", #"{"cook":"grill-1","lease_seconds":3601}"#, "lease_seconds"),
        ("/v1/kitchen/claim", #"{"cook":"grill-1","wait":-1}"#, "wait"),
        ("/v1/kitchen/claim", #"{"cook":"grill-1","wait":61}"#, "wait"),
        ("/v1/kitchen/claim", #"{"cook":"grill-1","station":"grill"}"#, "station"),
        ("/v1/kitchen/claim", #"["grill-1"]"#, "(body)"),
        ("/v1/kitchen/orders/1/renew", #"{}"#, "lease"),
        ("/v1/kitchen/orders/1/renew", #"{"lease":"x","lease_seconds":0}"#, "lease_seconds"),
        ("/v1/kitchen/orders/1/ready", #"{"lease":"x","cook":"grill-1"}"#, "cook"),
        ("/v1/kitchen/orders/1/ready", #"{"lease":7}"#, "lease"),
        ("/v1/kitchen/orders/1/fail", #"{"lease":"x","retry":"yes"}"#, "retry"),
        ("/v1/kitchen/orders/1/fail", #"{"lease":"x","error":false}"#, "error"),
    ])
    func badBodies(_ path: String, _ body: String, _ field: String) async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test { client in
                expectValidation(try await client.authorized(.post, path, body: body), field: field)
            }
            #expect(try await h.store.order(id: order.id)?.status == .queued, "nothing claimed")
        }
    }

    @Test("kitchen bodies that are not JSON are 400, without the JSON type 415")
    func notJSON() async throws {
        try await withAPI { h in
            try await h.place()
            try await h.test { client in
                expectProblem(try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"#), .badRequest)
                let untyped = try await client.execute(uri: "/v1/kitchen/claim", method: .post, headers: authHeaders,
                                                       body: ByteBuffer(string: #"{"cook":"grill-1"}"#))
                expectProblem(untyped, .unsupportedMediaType)
            }
            #expect(try await h.store.listOrders(status: .queued, limit: 10, after: nil).count == 1)
        }
    }
}
