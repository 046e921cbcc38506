import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TicketCore
import TicketHTTP
import TicketKitchen
import TicketStore

/// Builds and runs ticketd: the store's writer, the kitchen, the sweeper, the HTTP server and
/// the lifecycle coordinator, as one ServiceGroup. ServiceGroup stops services in reverse
/// order: the coordinator first (stop intake, answer waiting pollers), then HTTP, the kitchen
/// (finish or hand back within the grace period), the sweeper, and the writer last, which
/// writes what is pending before the database is closed.
public struct Daemon: Sendable {
    public let configuration: DaemonConfiguration
    public let configurationPath: String?
    public let overrides: ConfigurationOverrides
    public let logger: Logger

    public init(configuration: DaemonConfiguration, configurationPath: String?, overrides: ConfigurationOverrides, logger: Logger) {
        self.configuration = configuration
        self.configurationPath = configurationPath
        self.overrides = overrides
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT; returns after a clean shutdown.
    public func run() async throws {
        let config = configuration
        let adminToken = try ConfigurationLoader.readAdminToken(config)
        let store = try OrderStore(options: config.databaseOptions, settings: config.storeSettings,
                                   logger: logger.with(label: "ticketd.store"))
        logger.info("database open", metadata: ["path": "\(config.database)", "schema": "\(Migrations.latest)",
                                                "synchronous": "\(config.synchronous.rawValue)"])
        let estimator = CookTimeEstimator()
        let state = ServiceState()
        let env = APIEnvironment(store: store, settings: config.apiSettings(adminToken: adminToken),
                                 estimator: estimator, state: state)
        let kitchenSettings = KitchenSettingsBox(config.kitchenSettings)
        let kitchen = Kitchen(store: store, settings: kitchenSettings, estimator: estimator,
                              metrics: env.metricsFactory, logger: logger.with(label: "ticketd.kitchen"))
        let sweeper = Sweeper(store: store, settings: kitchenSettings, logger: logger.with(label: "ticketd.sweeper"))
        let notifier = SystemdNotifier()
        let coordinator = LifecycleCoordinator(store: store, state: state, kitchen: kitchen, notifier: notifier,
                                               logger: logger.with(label: "ticketd"))
        let reloader = Reloader(daemon: self, store: store, env: env, kitchenSettings: kitchenSettings,
                                notifier: notifier, logger: logger.with(label: "ticketd.reload"))

        let router = TicketAPI.buildRouter(env)
        let app = Application(
            router: router,
            // HTTP/1.1 with a 512-byte first receive buffer per connection (NIO's default is
            // 2 KiB, kept per connection: 20 MB for 10,000 open long polls).
            server: .ticketdHTTP1(),
            configuration: ApplicationConfiguration(address: .hostname(config.listen.host, port: config.listen.port),
                                                    serverName: nil, reuseAddress: true),
            onServerRunning: { channel in
                // ListenAddress puts an IPv6 host in brackets: `[::1]:8080`, not `::1:8080`.
                let address = channel.localAddress.map {
                    ListenAddress(host: $0.ipAddress ?? config.listen.host, port: $0.port ?? config.listen.port).description
                } ?? config.listen.description
                coordinator.serverRunning(address: address)
            },
            logger: logger.with(label: "ticketd.http", level: max(config.logLevel, .notice))
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: store.writer),
                    .init(service: sweeper),
                    .init(service: KitchenService(kitchen: kitchen)),
                    .init(service: app),
                    .init(service: reloader),
                    .init(service: coordinator),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger.with(label: "ticketd.lifecycle", level: max(config.logLevel, .notice))
            )
        )
        try await group.run()
        try store.close()
        logger.info("stopped cleanly")
    }
}

/// Runs the kitchen as a service of the group. The coordinator starts the kitchen's shutdown
/// early (at the first signal cooks stop claiming and their grace period starts), so the kitchen
/// can finish before the group asks it to stop; ServiceGroup takes a service that returns before
/// its turn in the shutdown order for a failure (and the daemon would exit 1). This waits for
/// that turn.
struct KitchenService: Service {
    let kitchen: Kitchen

    func run() async {
        await kitchen.run()
        try? await gracefulShutdown()
    }
}

extension DaemonConfiguration {
    func apiSettings(adminToken: String?) -> APISettings {
        APISettings(menu: coreMenu, longPollMaxSeconds: longPollMaxSeconds, maxBodyBytes: maxBodyBytes,
                    adminToken: adminToken, cooks: kitchen.cooks, maxWaiters: maxWaiters)
    }

    var coreMenu: Menu { Menu(items: menu.map { Menu.Item(name: $0.item, cookSeconds: $0.cookSeconds) }) }

    var kitchenSettings: KitchenSettings {
        KitchenSettings(
            cooks: kitchen.cooks,
            handler: kitchen.handler == .simulate ? .simulate
                : .command(argv: kitchen.command, timeoutSeconds: kitchen.commandTimeoutSeconds),
            leaseSeconds: kitchen.leaseSeconds, shutdownGraceSeconds: kitchen.shutdownGraceSeconds,
            pickupTimeoutSeconds: tickets.pickupTimeoutSeconds, retentionDays: retentionDays)
    }
}

extension Logger {
    func with(label: String, level: Logger.Level? = nil) -> Logger {
        var l = Logger(label: label)
        l.logLevel = level ?? self.logLevel
        return l
    }
}
