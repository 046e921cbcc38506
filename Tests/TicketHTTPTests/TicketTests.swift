import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketTestSupport

@Suite("Tickets: GET, cancel and pickup", .timeLimit(.minutes(1)))
struct TicketTests {
    @Test("GET answers the ticket with ETag \"v1\"; If-None-Match with it is 304")
    func getTicket() async throws {
        try await withAPI { h in
            let order = try await h.place("cheeseburger", quantity: 2)
            try await h.test { client in
                let response = try await client.get("/v1/tickets/\(order.ticket)")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.eTag] == "\"v1\"")
                expectRetryAfter(response)
                let t = response.json
                #expect(t["ticket"].string == order.ticket)
                #expect(t["number"].int == order.number)
                #expect(t["status"].string == "queued")
                #expect(t["version"].int == 1)
                #expect(t["position"].int == 0)
                #expect(isRFC3339Millis(t["estimated_ready_at"].string))
                #expect(t["items"] == JSON.parse(#"[{"item":"cheeseburger","quantity":2}]"#))

                let cached = try await client.get("/v1/tickets/\(order.ticket)", headers: [.ifNoneMatch: "\"v1\""])
                #expect(cached.status == .notModified)
                #expect(cached.body.readableBytes == 0)
                #expect(cached.headers[.eTag] == "\"v1\"")

                // After a change the old ETag no longer matches.
                _ = try await h.claim()
                let changed = try await client.get("/v1/tickets/\(order.ticket)", headers: [.ifNoneMatch: "\"v1\""])
                #expect(changed.status == .ok)
                #expect(changed.headers[.eTag] == "\"v2\"")
                #expect(changed.json["status"].string == "cooking")
                #expect(changed.json["position"].isMissing, "position only while queued")
                #expect(isRFC3339Millis(changed.json["estimated_ready_at"].string), "estimate while cooking")
                #expect(isRFC3339Millis(changed.json["cooking_at"].string))
            }
        }
    }

    @Test("an unknown or malformed ticket is 404 problem+json")
    func unknownTicket() async throws {
        try await withAPI { h in
            try await h.place()
            try await h.test { client in
                let unknown = TicketID.generate()
                #expect(unknown.count == 24)
                expectProblem(try await client.get("/v1/tickets/\(unknown)"), .notFound)
                expectProblem(try await client.get("/v1/tickets/not-a-ticket"), .notFound)
                expectProblem(try await client.get("/v1/tickets/\(String(repeating: "!", count: 24))"), .notFound)
                expectProblem(try await client.execute(uri: "/v1/tickets/\(unknown)", method: .delete), .notFound)
                expectProblem(try await client.execute(uri: "/v1/tickets/\(unknown)/pickup", method: .post), .notFound)
                expectProblem(try await client.get("/v1/tickets/\(unknown)?wait=1"), .notFound)
            }
        }
    }

    @Test("DELETE cancels a queued order: 200 cancelled with finished_at")
    func cancelQueued() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test { client in
                let response = try await client.execute(uri: "/v1/tickets/\(order.ticket)", method: .delete)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.eTag] == "\"v2\"")
                let t = response.json
                #expect(t["status"].string == "cancelled")
                #expect(t["version"].int == 2)
                #expect(isRFC3339Millis(t["finished_at"].string))
                #expect(t["position"].isMissing)
                #expect(t["estimated_ready_at"].isMissing)

                // A final ticket stays readable; a second cancel is a conflict.
                let read = try await client.get("/v1/tickets/\(order.ticket)")
                #expect(read.json["status"].string == "cancelled")
                expectProblem(try await client.execute(uri: "/v1/tickets/\(order.ticket)", method: .delete), .conflict)
            }
            #expect(try await h.store.order(id: order.id)?.status == .cancelled)
        }
    }

    @Test("DELETE once cooking has started is 409 and changes nothing")
    func cancelCooking() async throws {
        try await withAPI { h in
            let order = try await h.place()
            _ = try await h.claim()
            try await h.test { client in
                let response = try await client.execute(uri: "/v1/tickets/\(order.ticket)", method: .delete)
                expectProblem(response, .conflict)
            }
            let now = try #require(try await h.store.order(id: order.id))
            #expect(now.status == .cooking)
            #expect(now.version == 2)
        }
    }

    @Test("pickup of a ready order is 200 picked_up; of a queued one 409")
    func pickup() async throws {
        try await withAPI { h in
            let ready = try await h.place()
            let queued = try await h.place()
            let claim = try await h.claim()
            #expect(claim.order.id == ready.id)
            _ = try await h.store.markReady(orderID: ready.id, lease: claim.lease)
            try await h.test { client in
                let notReady = try await client.execute(uri: "/v1/tickets/\(queued.ticket)/pickup", method: .post)
                expectProblem(notReady, .conflict)

                let response = try await client.execute(uri: "/v1/tickets/\(ready.ticket)/pickup", method: .post)
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                let t = response.json
                #expect(t["status"].string == "picked_up")
                #expect(t["version"].int == 4)
                #expect(isRFC3339Millis(t["ready_at"].string))
                #expect(isRFC3339Millis(t["finished_at"].string))

                expectProblem(try await client.execute(uri: "/v1/tickets/\(ready.ticket)/pickup", method: .post), .conflict)
            }
            #expect(try await h.store.order(id: queued.id)?.status == .queued)
        }
    }
}
