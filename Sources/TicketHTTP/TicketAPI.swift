import Hummingbird
import Logging
import ServiceLifecycle
import TicketStore

/// Builds the responder of the whole API and the pages over `env`.
public enum TicketAPI {
    /// The responder of the whole API and the pages: the router, with problem answers and metrics
    /// around it (`APIResponder`).
    public static func buildResponder(_ env: APIEnvironment) -> APIResponder {
        APIResponder(router: buildRouter(env).buildResponder(), metrics: env.metrics)
    }

    /// The routes (no middleware: what every request gets is in `APIResponder`).
    static func buildRouter(_ env: APIEnvironment) -> Router<TicketRequestContext> {
        let router = Router(context: TicketRequestContext.self)
        let handlers = handlers(env)
        for route in APIRoutes.all {
            // Every route has its handler (a test holds the two lists against each other).
            guard let handler = handlers[route.operationID] else { continue }
            router.on(RouterPath(route.path), method: route.method, use: handler)
        }
        PageRoutes.register(on: router, env: env)
        return router
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
