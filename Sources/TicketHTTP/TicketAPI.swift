import Hummingbird
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
}
