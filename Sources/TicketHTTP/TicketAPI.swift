import Hummingbird
import Logging
import ServiceLifecycle
import TicketStore

/// Builds the responder of the whole API and the pages over `env`.
public enum TicketAPI {
    /// The responder of the whole API and the pages: their routes, with problem answers and
    /// metrics around them (`APIResponder`).
    public static func buildResponder(_ env: APIEnvironment) -> APIResponder {
        APIResponder(routes: routes(env), metrics: env.metrics)
    }

    /// Every route of the API (`APIRoutes.all`, each with the handler of its `operationId`) and
    /// of the pages.
    static func routes(_ env: APIEnvironment) -> APIRouter {
        let handlers = handlers(env)
        var routes: [APIRouter.Definition] = []
        for route in APIRoutes.all {
            // Every route has its handler (a test holds the two lists against each other).
            guard let handler = handlers[route.operationID] else { continue }
            routes.append((route.method, route.path, handler))
        }
        routes += PageRoutes.routes(env)
        return APIRouter(routes)
    }

    /// Every handler, by `operationId`.
    static func handlers(_ env: APIEnvironment) -> [String: APIRoutes.Handler] {
        var all: [String: APIRoutes.Handler] = [:]
        for part in [CustomerRoutes(env: env).handlers, KitchenRoutes(env: env).handlers,
                     OperatorRoutes(env: env).handlers, SystemRoutes(env: env).handlers] {
            all.merge(part) { first, _ in first }
        }
        return all
    }

    /// The HTTP server of the whole API and the pages on `socket` (made at start, before the
    /// database), with the pages' live feeds.
    public static func server(_ env: APIEnvironment, socket: ListeningSocket, limits: ConnectionLimits, logger: Logger,
                              onRunning: @escaping @Sendable (String) async -> Void) -> any DrainingServer {
        ServerWithLiveFeeds(server: HTTPServer(socket: socket, responder: buildResponder(env), limits: limits,
                                               metrics: env.metricsFactory, logger: logger, onRunning: onRunning),
                            feeds: env.live)
    }
}
