import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
import TicketHTTP
import TicketStore

/// The server accepts what `/openapi.json` allows and refuses what it does not. Each test is a
/// disagreement schemathesis found (`scripts/fuzz`, with `positive_data_acceptance` and
/// `negative_data_rejection`), held both ways: by the document and by the server.
@Suite("Document and server agree", .timeLimit(.minutes(1)))
struct DocumentAgreementTests {
    static let int64Max = "9223372036854775807"
    static let pastInt64Max = "9223372036854775808"

    /// `GET /v1/orders?after=16136519248082284576768` was schema-valid (no maximum) and 422.
    @Test("after: the document's maximum is 2^63 - 1; the server accepts it and refuses one more")
    func listCursorBounds() async throws {
        try await withAPI { h in
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let after = try #require(doc["paths"]["/v1/orders"]["get"]["parameters"].array?.first { $0["name"].string == "after" })
                #expect(after["schema"]["maximum"].double == 9_223_372_036_854_775_807.0)
                #expect(after["schema"]["minimum"].int == 0)

                _ = try await h.place()
                let last = try await client.authorized(.get, "/v1/orders?after=\(Self.int64Max)")
                #expect(last.status == .ok, "\(last.text)")
                #expect(last.json["orders"].array?.isEmpty == true)
                expectValidation(try await client.authorized(.get, "/v1/orders?after=\(Self.pastInt64Max)"), field: "after")
            }
        }
    }

    /// `GET /v1/tickets/{t}?wait=1&version=11203799910763003379712` was schema-valid and 422.
    @Test("version: the document's maximum is 2^63 - 1; the server accepts it and refuses one more")
    func versionBounds() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let version = try #require(doc["paths"]["/v1/tickets/{ticket}"]["get"]["parameters"].array?.first {
                    $0["name"].string == "version"
                })
                #expect(version["schema"]["maximum"].double == 9_223_372_036_854_775_807.0)

                // Not the ticket's version: the poll answers at once.
                let start = ContinuousClock.now
                let polled = try await client.get("/v1/tickets/\(order.ticket)?wait=5&version=\(Self.int64Max)")
                #expect(polled.status == .ok, "\(polled.text)")
                #expect(polled.json["version"].int == 1)
                #expect(ContinuousClock.now - start < .seconds(4))
                expectValidation(try await client.get("/v1/tickets/\(order.ticket)?wait=1&version=\(Self.pastInt64Max)"),
                                 field: "version")
            }
        }
    }

    /// `version` without `wait` was 422 ("only applies with wait"), though the document allows it.
    @Test("version without wait is allowed and answers at once; a malformed one is still 422")
    func versionWithoutWait() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test { client in
                let response = try await client.get("/v1/tickets/\(order.ticket)?version=3")
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["version"].int == 1)
                expectValidation(try await client.get("/v1/tickets/\(order.ticket)?version=0"), field: "version")
                expectValidation(try await client.get("/v1/tickets/\(order.ticket)?version=x"), field: "version")
            }
        }
    }

    /// A `Last-Event-ID` that was not a version was 422; browsers resend whatever id they last saw.
    @Test("Last-Event-ID that is not one of the ticket's versions is ignored: the current state is sent",
          arguments: [("abc", ["2"]), ("-1", ["2"]), ("1.5", ["2"]), ("99", ["2"]), (DocumentAgreementTests.pastInt64Max, ["2"]),
                      ("", ["2"]), ("0", ["2"]), ("1", ["2"]), ("2", [])])
    func lastEventID(_ header: String, _ expected: [String]) async throws {
        try await withAPI { h in
            let order = try await h.place()
            _ = try await h.store.cancel(ticket: order.ticket)   // version 2, final: the stream ends
            try await h.test(.live) { client in
                let response = try await client.get("/v1/tickets/\(order.ticket)/events",
                                                     headers: [.testLastEventID: header])
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "text/event-stream")
                let events = response.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map(ServerSentEvent.init)
                #expect(events.map(\.id) == expected)
                if let first = events.first { #expect(first.json["status"].string == "cancelled") }
            }
        }
    }

    /// `POST /v1/kitchen/claim` with `"wait": null` was accepted though the document said number.
    /// Optional kitchen fields now take null everywhere (meaning: the default), and say so.
    @Test("optional kitchen fields are documented nullable and null means the default")
    func kitchenNulls() async throws {
        try await withAPI { h in
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let schemas = doc["components"]["schemas"]
                for (schema, field) in [("ClaimRequest", "wait"), ("ClaimRequest", "lease_seconds"),
                                        ("RenewRequest", "lease_seconds"), ("FailRequest", "error"), ("FailRequest", "retry")] {
                    let types = schemas[schema]["properties"][field]["type"].array?.compactMap(\.string) ?? []
                    #expect(types.contains("null"), "\(schema).\(field) type \(types)")
                }
                // Required fields are not nullable.
                #expect(schemas["ClaimRequest"]["properties"]["cook"]["type"].string == "string")

                let nothing = try await client.authorized(.post, "/v1/kitchen/claim",
                                                          body: #"{"cook":"grill-1","wait":null,"lease_seconds":null}"#)
                #expect(nothing.status == .noContent, "\(nothing.text)")
                let order = try await h.place()
                let claimed = try await client.authorized(.post, "/v1/kitchen/claim",
                                                          body: #"{"cook":"grill-1","wait":null,"lease_seconds":null}"#)
                #expect(claimed.status == .ok, "\(claimed.text)")
                let lease = try #require(claimed.json["lease"].string)
                let renewed = try await client.authorized(.post, "/v1/kitchen/orders/\(order.id)/renew",
                                                          body: #"{"lease":"\#(lease)","lease_seconds":null}"#)
                #expect(renewed.status == .ok, "\(renewed.text)")
                expectValidation(try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":null}"#), field: "cook")
            }
        }
    }

    /// A claim's `wait` was checked against `long_poll_max_seconds` but documented without a
    /// maximum: a schema-valid `wait` above the cap was 422.
    @Test("a claim's wait: the document's maximum is long_poll_max_seconds, which the server enforces")
    func claimWaitCap() async throws {
        try await withAPI(longPollMaxSeconds: 1.5) { h in
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                #expect(doc["components"]["schemas"]["ClaimRequest"]["properties"]["wait"]["maximum"].double == 1.5)
                let atCap = try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"c","wait":0}"#)
                #expect(atCap.status == .noContent)
                expectValidation(try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"c","wait":1.6}"#),
                                 field: "wait")
            }
        }
    }

    /// JSON Schema's maxLength counts code points; the server counted grapheme clusters, so 65
    /// code points forming fewer characters were accepted though the document refuses them.
    @Test("string lengths count Unicode code points, as the document's maxLength does")
    func lengthsInCodePoints() async throws {
        try await withAPI { h in
            try await h.test { client in
                let accent = "e\u{301}"                                  // 2 code points, 1 character
                let cook64 = String(repeating: accent, count: 32)       // 64 code points
                let cook66 = String(repeating: accent, count: 33)       // 66 code points, 33 characters
                let ok = try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"\#(cook64)"}"#)
                #expect(ok.status == .noContent, "\(ok.text)")
                expectValidation(try await client.authorized(.post, "/v1/kitchen/claim", body: #"{"cook":"\#(cook66)"}"#),
                                 field: "cook")

                let customer = String(repeating: accent, count: 33)     // 66 code points
                expectValidation(try await client.placeOrder(#"{"items":[{"item":"fries"}],"customer":"\#(customer)"}"#),
                                 field: "customer")
                let fits = String(repeating: accent, count: 32)
                let placed = try await client.placeOrder(#"{"items":[{"item":"fries"}],"customer":"\#(fits)"}"#)
                #expect(placed.status == .accepted, "\(placed.text)")
            }
        }
    }
}
