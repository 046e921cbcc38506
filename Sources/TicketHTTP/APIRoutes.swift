import HTTPTypes
import Hummingbird

/// Every route of the API, in one list: the router (`APIRouter`) serves exactly these (each with
/// the handler of its `operationId`, and answers 405 from them), and `/openapi.json` builds its
/// paths from them. Tests hold the list, the handlers and the document's operations against each
/// other.
public enum APIRoutes {
    /// A route's handler, as its routes file provides it.
    typealias Handler = @Sendable (Request, TicketRequestContext) async throws -> Response

    public struct Route: Sendable, Hashable {
        public var method: HTTPRequest.Method
        /// Hummingbird pattern, `:name` for a parameter.
        public var path: String
        public var operationID: String
        public var requiresToken: Bool
    }

    public static let all: [Route] = [
        Route(method: .post, path: "/v1/orders", operationID: "placeOrder", requiresToken: false),
        Route(method: .get, path: "/v1/tickets/:ticket", operationID: "getTicket", requiresToken: false),
        Route(method: .get, path: "/v1/tickets/:ticket/events", operationID: "streamTicketEvents", requiresToken: false),
        Route(method: .delete, path: "/v1/tickets/:ticket", operationID: "cancelTicket", requiresToken: false),
        Route(method: .post, path: "/v1/tickets/:ticket/pickup", operationID: "pickupTicket", requiresToken: false),
        Route(method: .get, path: "/v1/menu", operationID: "getMenu", requiresToken: false),
        Route(method: .get, path: "/v1/board", operationID: "getBoard", requiresToken: false),
        Route(method: .get, path: "/v1/board/events", operationID: "streamBoardEvents", requiresToken: false),
        Route(method: .get, path: "/healthz", operationID: "healthz", requiresToken: false),
        Route(method: .get, path: "/readyz", operationID: "readyz", requiresToken: false),
        Route(method: .get, path: "/metrics", operationID: "metrics", requiresToken: false),
        Route(method: .get, path: "/openapi.json", operationID: "openapi", requiresToken: false),
        Route(method: .get, path: "/v1/orders", operationID: "listOrders", requiresToken: true),
        Route(method: .get, path: "/v1/orders/:id", operationID: "getOrder", requiresToken: true),
        Route(method: .post, path: "/v1/orders/:id/cancel", operationID: "cancelOrder", requiresToken: true),
        Route(method: .post, path: "/v1/orders/:id/requeue", operationID: "requeueOrder", requiresToken: true),
        Route(method: .get, path: "/v1/stats", operationID: "getStats", requiresToken: true),
        Route(method: .post, path: "/v1/kitchen/claim", operationID: "claimOrder", requiresToken: true),
        Route(method: .post, path: "/v1/kitchen/orders/:id/claim", operationID: "claimOrderByID", requiresToken: true),
        Route(method: .post, path: "/v1/kitchen/orders/:id/renew", operationID: "renewLease", requiresToken: true),
        Route(method: .post, path: "/v1/kitchen/orders/:id/ready", operationID: "markReady", requiresToken: true),
        Route(method: .post, path: "/v1/kitchen/orders/:id/fail", operationID: "failAttempt", requiresToken: true),
        Route(method: .get, path: "/v1/kitchen/events", operationID: "streamKitchenEvents", requiresToken: true),
    ]

    /// The OpenAPI form of a path (`{ticket}` for `:ticket`).
    public static func openAPIPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }.joined(separator: "/")
    }
}
