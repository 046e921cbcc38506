import HTTPTypes
import Hummingbird
import Testing
@testable import TicketHTTP

/// The router on its own: which route a method and path reach, with which parameters.
@Suite("APIRouter")
struct APIRouterTests {
    /// Each handler answers with its pattern in a header, so a match says which route it found.
    static func router(_ routes: [(HTTPRequest.Method, String)]) -> APIRouter {
        APIRouter(routes.map { method, path in
            (method, path, { _, _ in Response(status: .ok, headers: [.init("x-route")!: path]) })
        })
    }

    static let routes = router([
        (.post, "/v1/orders"),
        (.get, "/v1/tickets/:ticket"),
        (.delete, "/v1/tickets/:ticket"),
        (.get, "/v1/tickets/:ticket/events"),
        (.get, "/"),
        (.get, "/assets/:file"),
    ])

    func matched(_ method: HTTPRequest.Method, _ path: String) -> (label: String, parameters: Parameters)? {
        guard case .route(let route, let parameters) = Self.routes.match(method, path: path) else { return nil }
        return (route.label, parameters)
    }

    @Test("a path reaches the route of its method, with its parameters and the document's label")
    func matchesWithParameters() throws {
        let poll = try #require(matched(.get, "/v1/tickets/T-abc"))
        #expect(poll.label == "/v1/tickets/{ticket}")
        #expect(poll.parameters.get("ticket") == "T-abc")
        let cancel = try #require(matched(.delete, "/v1/tickets/T-abc"))
        #expect(cancel.parameters.get("ticket") == "T-abc")
        let events = try #require(matched(.get, "/v1/tickets/T-x/events"))
        #expect(events.label == "/v1/tickets/{ticket}/events")
        #expect(events.parameters.get("ticket") == "T-x")
        #expect(matched(.post, "/v1/orders")?.label == "/v1/orders")
        #expect(matched(.get, "/")?.label == "/")
        #expect(matched(.get, "/assets/board.js")?.parameters.get("file") == "board.js")
    }

    @Test("empty segments are ignored, constants are compared exactly (case and length)")
    func segments() {
        #expect(matched(.post, "/v1/orders/")?.label == "/v1/orders")
        #expect(matched(.post, "//v1//orders")?.label == "/v1/orders")
        #expect(matched(.post, "/V1/orders") == nil)
        #expect(matched(.post, "/v1/order") == nil)
        #expect(matched(.post, "/v1/orderss") == nil)
        #expect(matched(.get, "/v1/tickets") == nil)
        #expect(matched(.get, "/v1/tickets/T-x/events/more") == nil)
        #expect(matched(.get, "/v1/tickets/é/events")?.parameters.get("ticket") == "é")
    }

    @Test("a known path with another method lists the methods it has; an unknown path has none")
    func otherMethods() {
        guard case .otherMethods(let allowed) = Self.routes.match(.put, path: "/v1/tickets/T-x") else {
            Issue.record("PUT on a ticket should be 405")
            return
        }
        #expect(allowed == [.get, .delete])
        guard case .none = Self.routes.match(.get, path: "/v2/orders") else {
            Issue.record("an unknown path should match nothing")
            return
        }
    }
}
