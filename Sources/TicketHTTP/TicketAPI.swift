import Hummingbird
import Logging
import ServiceLifecycle
import TicketStore

/// Builds the router of the whole API over `env`.
public enum TicketAPI {
    public static func buildRouter(_ env: APIEnvironment) -> Router<TicketRequestContext> {
        let router = Router(context: TicketRequestContext.self)
        router.add(middleware: MetricsMiddleware(metrics: env.metrics))
        router.add(middleware: ErrorMiddleware())
        CustomerRoutes(env: env).register(on: router)
        OperatorRoutes(env: env).register(on: router)
        SystemRoutes(env: env).register(on: router)
        return router
    }

    /// The HTTP server of the whole API on `socket` (made at start, before the database).
    public static func server(_ env: APIEnvironment, socket: ListeningSocket, limits: ConnectionLimits, logger: Logger,
                              onRunning: @escaping @Sendable (String) async -> Void) -> some Service {
        HTTPServer(socket: socket, responder: buildRouter(env).buildResponder(), limits: limits,
                   metrics: env.metricsFactory, logger: logger, onRunning: onRunning)
    }
}
