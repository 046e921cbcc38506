import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
@testable import TicketHTTP
import TicketStore
import TicketTestSupport

@Suite("Menu, board, health, metrics and routing", .timeLimit(.minutes(1)))
struct SystemTests {
    @Test("GET /v1/menu lists the configured items with their cooking times")
    func menu() async throws {
        try await withAPI { h in
            try await h.test { client in
                let response = try await client.get("/v1/menu")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let items = try #require(response.json["items"].array)
                #expect(items.map { $0["item"].string } == ["cheeseburger", "fries", "cola"])
                #expect(items.map { $0["cook_seconds"].double } == [4, 3, 0.5])
            }
        }
    }

    @Test("GET /v1/board shows numbers preparing (queued or cooking) and ready")
    func board() async throws {
        try await withAPI { h in
            let cooking = try await h.place()
            let ready = try await h.place()
            let queued = try await h.place()
            let gone = try await h.place()
            _ = try await h.store.cancel(ticket: gone.ticket)
            _ = try await h.claim()
            let second = try await h.claim()
            #expect(second.order.id == ready.id)
            _ = try await h.store.markReady(orderID: ready.id, lease: second.lease)
            try await h.test { client in
                let response = try await client.get("/v1/board")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let preparing = try #require(response.json["preparing"].array).compactMap(\.int)
                let readyNumbers = try #require(response.json["ready"].array).compactMap(\.int)
                #expect(preparing.sorted() == [cooking.number, queued.number].sorted())
                #expect(readyNumbers == [ready.number])
            }
        }
    }

    @Test("/healthz is 200; /readyz is 503 until ready, 200 when ready, 503 once stopping")
    func healthAndReadiness() async throws {
        try await withAPI(ready: false) { h in
            try await h.test { client in
                let health = try await client.get("/healthz")
                #expect(health.status == .ok)
                #expect(health.headers[.contentType] == "application/json")
                #expect(health.json["status"].string == "ok")

                let starting = try await client.get("/readyz")
                expectProblem(starting, .serviceUnavailable)
                expectRetryAfter(starting)

                h.env.state.markReady()
                let ready = try await client.get("/readyz")
                #expect(ready.status == .ok)
                #expect(ready.headers[.contentType] == "application/json")
                #expect(ready.json["status"].string == "ready")

                h.env.state.markStopping()
                let stopping = try await client.get("/readyz")
                expectProblem(stopping, .serviceUnavailable)
                #expect(try await client.get("/healthz").status == .ok, "alive while stopping")
                // The server stops taking connections at shutdown; a request it has taken is answered.
                let taken = try await client.placeOrder(orderBody())
                #expect(taken.status == .accepted)
            }
        }
    }

    @Test("/metrics is Prometheus text whose metric names all start with ticketd_")
    func metrics() async throws {
        try await withAPI { h in
            try await h.test { client in
                #expect(try await client.placeOrder(orderBody()).status == .accepted)
                _ = try await client.get("/v1/menu")
                let response = try await client.get("/metrics")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true, "\(response.headers[.contentType] ?? "")")
                let text = response.text
                var names: Set<String> = []
                for line in text.split(separator: "\n") where !line.isEmpty {
                    if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                        names.insert(String(line.split(separator: " ")[2]))
                    } else if !line.hasPrefix("#") {
                        names.insert(String(line.prefix { $0 != "{" && $0 != " " }))
                    }
                }
                #expect(!names.isEmpty)
                let foreign = names.filter { !$0.hasPrefix("ticketd_") }
                #expect(foreign.isEmpty, "metrics not named ticketd_…: \(foreign.sorted())")
                #expect(names.contains("ticketd_http_requests_total"), "\(names.sorted())")
                #expect(names.contains("ticketd_orders_placed_total"), "\(names.sorted())")
                #expect(text.contains("ticketd_orders_placed_total 1"), "one order counted:\n\(text)")
                #expect(text.contains(#"status="202""#), "requests are counted by status:\n\(text)")
            }
        }
    }

    @Test("an unknown route is 404 problem+json")
    func unknownRoute() async throws {
        try await withAPI { h in
            try await h.test { client in
                expectProblem(try await client.get("/nope"), .notFound)
                expectProblem(try await client.get("/v1/tickets"), .notFound)
                expectProblem(try await client.get("/v2/menu"), .notFound)
                expectProblem(try await client.execute(uri: "/v1/kitchen/orders/1/cook", method: .post), .notFound)
            }
        }
    }

    @Test("a known path with a method it does not serve is 405 with Allow", arguments: [
        (HTTPRequest.Method.put, "/v1/menu", ["GET"]),
        (.delete, "/v1/orders", ["GET", "POST"]),
        (.patch, "/v1/tickets/AAAAAAAAAAAAAAAAAAAAAAAA", ["DELETE", "GET"]),
        (.get, "/v1/kitchen/claim", ["POST"]),
        (.post, "/healthz", ["GET"]),
    ])
    func methodNotAllowed(_ method: HTTPRequest.Method, _ path: String, _ allowed: [String]) async throws {
        try await withAPI { h in
            let before = try await h.counts()
            try await h.test { client in
                let response = try await client.execute(uri: path, method: method, headers: jsonHeaders,
                                                        body: ByteBuffer(string: orderBody()))
                expectProblem(response, .methodNotAllowed)
                let allow = response.headers[.allow] ?? ""
                let methods = allow.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(methods.sorted() == allowed, "Allow: \(allow)")
            }
            #expect(try await h.counts() == before)
        }
    }
}

@Suite("OpenAPI document", .timeLimit(.minutes(1)))
struct OpenAPITests {
    static let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    @Test("GET /openapi.json is JSON whose operations are exactly APIRoutes.all")
    func routesMatch() async throws {
        try await withAPI { h in
            try await h.test { client in
                let response = try await client.get("/openapi.json")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let doc = response.json
                #expect(doc["openapi"].string?.hasPrefix("3.") == true)
                let paths = try #require(doc["paths"].object, "paths in \(response.text.prefix(200))")

                var documented: Set<String> = []
                for (path, item) in paths {
                    for method in (item.object ?? [:]).keys where Self.methods.contains(method) {
                        documented.insert("\(method.uppercased()) \(path)")
                    }
                }
                let served = Set(APIRoutes.all.map { "\($0.method.rawValue) \(APIRoutes.openAPIPath($0.path))" })
                #expect(served.count == APIRoutes.all.count, "no route is listed twice")
                #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
                #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")

                // Operation ids and security follow the route table too.
                for route in APIRoutes.all {
                    let operation = doc["paths"][APIRoutes.openAPIPath(route.path)][route.method.rawValue.lowercased()]
                    #expect(operation["operationId"].string == route.operationID, "\(route.method) \(route.path)")
                    #expect(operation["security"].isMissing == !route.requiresToken, "security of \(route.method) \(route.path)")
                }
            }
        }
    }

    @Test("the route table, the handlers and the document's operations name the same operations; statuses come from OrderStatus")
    func oneTable() async throws {
        try await withAPI { h in
            let table = Set(APIRoutes.all.map(\.operationID))
            #expect(table.count == APIRoutes.all.count, "an operationId is used once")
            #expect(Set(TicketAPI.handlers(h.env).keys) == table, "every route has a handler, every handler a route")
            #expect(Set(OpenAPIDocument.operations.keys) == table, "every route has an operation, every operation a route")
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let statuses = doc["components"]["schemas"]["Status"]["enum"].array?.compactMap(\.string)
                #expect(statuses == OrderStatus.allCases.map(\.rawValue))
            }
        }
    }

    @Test("the order line's item enum is the configured menu")
    func menuEnum() async throws {
        try await withAPI { h in
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let enumValues = doc["components"]["schemas"]["OrderLine"]["properties"]["item"]["enum"].array?.compactMap(\.string)
                #expect(enumValues == APIHarness.menu.items.map(\.name))

                // It follows a reload of the menu.
                var settings = h.env.settings
                settings.menu = Menu(items: [Menu.Item(name: "taco", cookSeconds: 2)])
                h.env.update(settings: settings)
                let reloaded = try await client.get("/openapi.json").json
                #expect(reloaded["components"]["schemas"]["OrderLine"]["properties"]["item"]["enum"] == JSON.parse(#"["taco"]"#))
            }
        }
    }

    /// Found by scripts/fuzz (schemathesis ST108): under OpenAPI 3.1 the schema of a
    /// `text/event-stream` response describes one event, and `{"type": "string"}` described none.
    @Test("the event stream's schema describes one event: event, id and the ticket JSON as data")
    func eventStreamSchema() async throws {
        try await withAPI { h in
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let media = doc["paths"]["/v1/tickets/{ticket}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
                #expect(media["schema"]["$ref"].string == "#/components/schemas/TicketEvent")
                let event = doc["components"]["schemas"]["TicketEvent"]
                #expect(event["type"].string == "object")
                #expect(event["required"] == JSON.parse(#"["event", "id", "data"]"#))
                #expect(event["properties"]["data"]["contentSchema"]["$ref"].string == "#/components/schemas/Ticket")
            }
        }
    }

    @Test("every $ref resolves to a schema in components/schemas")
    func refsResolve() async throws {
        try await withAPI { h in
            try await h.test { client in
                let doc = try await client.get("/openapi.json").json
                let schemas = try #require(doc["components"]["schemas"].object)
                var refs: [String] = []
                func walk(_ value: JSON) {
                    switch value {
                    case .object(let o):
                        for (key, member) in o {
                            if key == "$ref", let ref = member.string { refs.append(ref) } else { walk(member) }
                        }
                    case .array(let a): a.forEach(walk)
                    default: break
                    }
                }
                walk(doc)
                #expect(refs.count > 10)
                let prefix = "#/components/schemas/"
                for ref in Set(refs) {
                    #expect(ref.hasPrefix(prefix) && schemas[String(ref.dropFirst(prefix.count))] != nil, "unresolved $ref \(ref)")
                }
            }
        }
    }
}
