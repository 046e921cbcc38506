import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketTestSupport

@Suite("POST /v1/orders", .timeLimit(.minutes(1)))
struct PlacementTests {
    @Test("a placement answers 202 with the whole ticket, Location, Retry-After and ETag")
    func placeOrder() async throws {
        try await withAPI { h in
            try await h.test { client in
                let body = #"{"items": [{"item": "cheeseburger", "quantity": 2}, {"item": "cola"}], "customer": "Ana", "note": "no onions", "priority": "normal"}"#
                let response = try await client.placeOrder(body)
                #expect(response.status == .accepted, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                let t = response.json
                let ticket = try #require(t["ticket"].string)
                #expect(ticket.count == 30)
                #expect(ticket.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") },
                        "ticket \(ticket) is URL-safe")
                #expect(t["number"].int == 1)
                #expect(t["status"].string == "queued")
                #expect(t["version"].int == 1)
                #expect(t["position"].int == 0)
                #expect(isRFC3339Millis(t["estimated_ready_at"].string), "\(t["estimated_ready_at"])")
                #expect(isRFC3339Millis(t["created_at"].string), "\(t["created_at"])")
                #expect(t["items"] == JSON.parse(#"[{"item":"cheeseburger","quantity":2},{"item":"cola","quantity":1}]"#))
                #expect(t["customer"].string == "Ana")
                #expect(t["priority"].string == "normal")
                #expect(t["cooking_at"].isNull)
                #expect(t["ready_at"].isNull)
                #expect(t["finished_at"].isNull)

                #expect(response.headers[.location] == "/v1/tickets/\(ticket)")
                expectRetryAfter(response)
                #expect(response.headers[.eTag] == "\"v1\"")

                // What was answered was written.
                let stored = try #require(try await h.store.ticket(ticket)?.order)
                #expect(stored.status == .queued)
                #expect(stored.items == [OrderLine(item: "cheeseburger", quantity: 2), OrderLine(item: "cola", quantity: 1)])
                #expect(stored.note == "no onions")
            }
        }
    }

    @Test("only items is required: customer is null and priority normal")
    func minimalOrder() async throws {
        try await withAPI { h in
            try await h.test { client in
                let response = try await client.placeOrder(#"{"items":[{"item":"fries"}]}"#)
                #expect(response.status == .accepted)
                #expect(response.json["customer"].isNull)
                #expect(response.json["priority"].string == "normal")
                #expect(response.json["items"][0]["quantity"].int == 1)
            }
        }
    }

    @Test("position counts the orders claimed before this one; a rush order goes before normal ones")
    func positions() async throws {
        try await withAPI { h in
            try await h.test { client in
                let first = try await client.placeOrder(orderBody())
                let second = try await client.placeOrder(orderBody())
                let rush = try await client.placeOrder(orderBody(priority: "rush"))
                #expect(first.json["position"].int == 0)
                #expect(second.json["position"].int == 1)
                #expect(rush.json["position"].int == 0)
                #expect(rush.json["priority"].string == "rush")
                #expect([first, second, rush].map { $0.json["number"].int } == [1, 2, 3])

                // The first normal order is now behind the rush order.
                let ticket = try #require(first.json["ticket"].string)
                let now = try await client.get("/v1/tickets/\(ticket)")
                #expect(now.json["position"].int == 1)
            }
        }
    }

    // MARK: Bad input

    @Test("malformed JSON is 400 and writes nothing")
    func malformedJSON() async throws {
        try await withAPI { h in
            let before = try await h.counts()
            try await h.test { client in
                for body in [#"{"items": [{"item": "fries"}"#, "", "items=fries", #"{"items": [,]}"#] {
                    let response = try await client.placeOrder(body)
                    expectProblem(response, .badRequest)
                }
            }
            #expect(try await h.counts() == before)
        }
    }

    @Test("a missing or wrong Content-Type is 415 and writes nothing")
    func wrongContentType() async throws {
        try await withAPI { h in
            let before = try await h.counts()
            try await h.test { client in
                for headers: HTTPFields in [[:], [.contentType: "text/plain"], [.contentType: "application/x-www-form-urlencoded"]] {
                    let response = try await client.placeOrder(orderBody(), headers: headers)
                    expectProblem(response, .unsupportedMediaType)
                }
                // A parameter on the JSON type is fine.
                let ok = try await client.placeOrder(orderBody(), headers: [.contentType: "application/json; charset=utf-8"])
                #expect(ok.status == .accepted)
            }
            var after = before
            after.orders += 1
            after.events += 1
            after.lastNumber = 1
            #expect(try await h.counts() == after)
        }
    }

    @Test("a body over max_body_bytes is 413 and writes nothing", arguments: ["router", "live"])
    func tooLarge(_ mode: String) async throws {
        try await withAPI(maxBodyBytes: 1024) { h in
            let before = try await h.counts()
            try await h.test(mode == "live" ? .live : .router) { client in
                let note = String(repeating: "x", count: 5000 - 60)
                let body = #"{"items":[{"item":"fries","quantity":1}],"note":"\#(note)"}"#
                #expect(body.utf8.count >= 5000 - 10)
                let response = try await client.placeOrder(body)
                expectProblem(response, .contentTooLarge)
            }
            #expect(try await h.counts() == before)
        }
    }

    /// Each bad body with the field its 422 must name.
    static let invalidBodies: [(String, String)] = [
        (#"{"items":[{"item":"pizza","quantity":1}]}"#, "items[0].item"),
        (#"{"items":[{"item":"fries"}],"table":4}"#, "table"),
        (#"{"items":[{"item":"fries","size":"large"}]}"#, "items[0].size"),
        (#"{"items":[{"item":"fries","quantity":0}]}"#, "items[0].quantity"),
        (#"{"items":[{"item":"fries","quantity":21}]}"#, "items[0].quantity"),
        (#"{"items":[{"item":"fries","quantity":1.5}]}"#, "items[0].quantity"),
        (#"{"items":[{"item":"fries","quantity":"2"}]}"#, "items[0].quantity"),
        (#"{"items":[{"item":"fries"},{"item":"cola","quantity":-1}]}"#, "items[1].quantity"),
        ("{\"items\":[" + Array(repeating: #"{"item":"fries"}"#, count: 51).joined(separator: ",") + "]}", "items"),
        (#"{"items":[{"item":"fries"}],"customer":""# + String(repeating: "a", count: 65) + "\"}", "customer"),
        (#"{"items":[{"item":"fries"}],"note":""# + String(repeating: "n", count: 281) + "\"}", "note"),
        (#"{"items":[{"item":"fries"}],"priority":"urgent"}"#, "priority"),
        (#"{"customer":"Ana"}"#, "items"),
        (#"{"items":[]}"#, "items"),
        (#"{"items":"fries"}"#, "items"),
        ("[]", "(body)"),
    ]

    @Test("invalid orders are 422 naming the field and write nothing", arguments: 0..<invalidBodies.count)
    func invalid(_ index: Int) async throws {
        let (body, field) = Self.invalidBodies[index]
        try await withAPI { h in
            let before = try await h.counts()
            try await h.test { client in
                let response = try await client.placeOrder(body)
                expectValidation(response, field: field)
            }
            #expect(try await h.counts() == before, "body \(body.prefix(80))")
        }
    }

    @Test("limits are inclusive: quantity 20, 50 lines, 64-character customer and 280-character note are taken")
    func limitsInclusive() async throws {
        try await withAPI { h in
            try await h.test { client in
                let lines = Array(repeating: #"{"item":"cola","quantity":20}"#, count: 50).joined(separator: ",")
                let customer = String(repeating: "é", count: 64)
                let note = String(repeating: "n", count: 280)
                let response = try await client.placeOrder(#"{"items":[\#(lines)],"customer":"\#(customer)","note":"\#(note)"}"#)
                #expect(response.status == .accepted, "\(response.text)")
                #expect(response.json["customer"].string == customer)
            }
        }
    }

    // MARK: Idempotency-Key

    @Test("a retry with the same key and the same JSON value replays the first answer byte for byte")
    func idempotentReplay() async throws {
        try await withAPI { h in
            try await h.test { client in
                let first = try await client.placeOrder(
                    #"{"items":[{"item":"fries","quantity":2}],"customer":"Ana","priority":"rush"}"#,
                    headers: [.contentType: "application/json", .testIdempotencyKey: "key-1"])
                #expect(first.status == .accepted)
                let before = try await h.counts()
                // The same value, keys reordered and spaced differently.
                let retry = try await client.placeOrder(
                    "{ \"priority\" : \"rush\",\n  \"customer\":\"Ana\", \"items\" : [ {\"quantity\":2, \"item\":\"fries\"} ] }",
                    headers: [.contentType: "application/json", .testIdempotencyKey: "key-1"])
                #expect(retry.status == first.status)
                #expect(retry.body == first.body, "replayed body:\n\(retry.text)\nfirst:\n\(first.text)")
                #expect(retry.headers[.location] == first.headers[.location])
                #expect(retry.headers[.eTag] == first.headers[.eTag])
                #expect(retry.headers[.contentType] == "application/json")
                #expect(try await h.counts() == before, "a replay creates nothing")

                // The same key with another body is refused, and writes nothing.
                let other = try await client.placeOrder(
                    #"{"items":[{"item":"fries","quantity":3}],"customer":"Ana","priority":"rush"}"#,
                    headers: [.contentType: "application/json", .testIdempotencyKey: "key-1"])
                expectValidation(other, field: "Idempotency-Key")
                #expect(try await h.counts() == before)

                // Another key is another order.
                let fresh = try await client.placeOrder(
                    #"{"items":[{"item":"fries","quantity":2}],"customer":"Ana","priority":"rush"}"#,
                    headers: [.contentType: "application/json", .testIdempotencyKey: "key-2"])
                #expect(fresh.status == .accepted)
                #expect(fresh.json["ticket"] != first.json["ticket"])
                #expect(try await h.counts().orders == before.orders + 1)
            }
        }
    }

    @Test("ten concurrent requests with one key create one order and all get its answer")
    func concurrentIdempotency() async throws {
        try await withAPI { h in
            try await h.test { client in
                let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                    for _ in 0..<10 {
                        group.addTask {
                            try await client.placeOrder(orderBody([("cheeseburger", 1)]),
                                                        headers: [.contentType: "application/json", .testIdempotencyKey: "same"])
                        }
                    }
                    var out: [TestResponse] = []
                    for try await r in group { out.append(r) }
                    return out
                }
                #expect(responses.count == 10)
                #expect(responses.allSatisfy { $0.status == .accepted }, "\(responses.map(\.status))")
                #expect(Set(responses.map(\.text)).count == 1, "every answer is the same body")
            }
            let counts = try await h.counts()
            #expect(counts.orders == 1)
            #expect(counts.keys == 1)
        }
    }

    @Test("a malformed Idempotency-Key is 422 and writes nothing")
    func badIdempotencyKey() async throws {
        try await withAPI { h in
            let before = try await h.counts()
            try await h.test { client in
                let response = try await client.placeOrder(
                    orderBody(), headers: [.contentType: "application/json",
                                           .testIdempotencyKey: String(repeating: "k", count: 256)])
                expectValidation(response, field: "Idempotency-Key")
            }
            #expect(try await h.counts() == before)
        }
    }

    // MARK: Backpressure

    @Test("when every ticket number is live, a placement is 503 with Retry-After")
    func numbersExhausted() async throws {
        try await withAPI(store: StoreSettings(maxNumber: 2)) { h in
            try await h.test { client in
                #expect(try await client.placeOrder(orderBody()).status == .accepted)
                #expect(try await client.placeOrder(orderBody()).status == .accepted)
                let before = try await h.counts()
                let third = try await client.placeOrder(orderBody())
                expectProblem(third, .serviceUnavailable)
                expectRetryAfter(third)
                #expect(try await h.counts() == before)

                // Once a number is free again, placing works and takes the free number.
                let claim = try await h.claim()
                _ = try await h.store.markReady(orderID: claim.order.id, lease: claim.lease)
                _ = try await h.store.pickup(ticket: claim.order.ticket)
                let again = try await client.placeOrder(orderBody())
                #expect(again.status == .accepted)
                #expect(again.json["number"].int == claim.order.number)
            }
        }
    }

    @Test("when max_queued orders are queued, a placement is 503 with Retry-After")
    func queueFull() async throws {
        try await withAPI(store: StoreSettings(maxQueued: 1)) { h in
            try await h.test { client in
                #expect(try await client.placeOrder(orderBody()).status == .accepted)
                let before = try await h.counts()
                let second = try await client.placeOrder(orderBody())
                expectProblem(second, .serviceUnavailable)
                expectRetryAfter(second)
                #expect(try await h.counts() == before)

                // max_queued counts queued orders only: a cooking one leaves room.
                _ = try await h.claim()
                #expect(try await client.placeOrder(orderBody()).status == .accepted)
            }
        }
    }

    @Test("after shutdown began, a placement already taken is still answered in full (the server stops taking connections instead)")
    func stopping() async throws {
        try await withAPI { h in
            h.env.state.markStopping()
            let before = try await h.counts()
            try await h.test { client in
                let response = try await client.placeOrder(orderBody())
                #expect(response.status == .accepted)
            }
            #expect(try await h.counts().orders == before.orders + 1)
        }
    }

    @Test("once the store is shut down, a placement is 503 with Retry-After and writes nothing")
    func storeClosed() async throws {
        try await withAPI { h in
            let before = try await h.counts()
            h.store.stop()
            try await h.test { client in
                let response = try await client.placeOrder(orderBody())
                expectProblem(response, .serviceUnavailable)
                expectRetryAfter(response)
            }
            #expect(try await h.counts() == before)
        }
    }
}
