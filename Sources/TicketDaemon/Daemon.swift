import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import TicketCore
import TicketHTTP
import TicketKitchen
import TicketStore
import TicketStorePostgres
import TicketStoreSQLite

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
    ///
    /// Start-up order: the instance lock (one daemon per database), the listening socket (a taken
    /// port stops the daemon here, naming the address, before the database is touched), the
    /// store (open, migrate, hand back what an earlier run left cooking), and only then the
    /// services: no cook and no kitchen-API claim can run before that hand-back.
    public func run() async throws {
        let config = configuration
        ProcessLimits.ignoreFileSizeSignal()
        ProcessLimits.raiseOpenFileLimit(toFit: config, logger: logger)
        let adminToken = try ConfigurationLoader.readAdminToken(config)
        // SQLite: one daemon per database file, by its instance lock. PostgreSQL: many nodes on one
        // database; the store refuses a second node with the same node_id instead.
        var lock: InstanceLock?
        var password: String?
        switch config.databaseLocation {
        case .sqlite: lock = try InstanceLock(database: config.database)
        case .postgres: password = try ConfigurationLoader.readDatabasePassword(config)
        }
        let socket = try ListeningSocket.fromSystemd()
            ?? ListeningSocket.bind(host: config.listen.host, port: config.listen.port)
        let store: any OrderStore
        let handedBack: [Order]
        // Opening migrates; a migration that rebuilds tables can outlast systemd's start timeout.
        let extender = StartTimeoutExtender(notifier: SystemdNotifier(), status: "opening and migrating the database")
        defer { extender.stop() }
        do {
            switch config.databaseLocation {
            case .sqlite:
                let sqlite = try SQLiteOrderStore(options: config.databaseOptions, settings: config.storeSettings,
                                                  logger: logger.with(label: "ticketd.store"))
                logger.info("database open", metadata: ["path": "\(config.database)", "schema": "\(Migrations.latest)",
                                                        "synchronous": "\(config.synchronous.rawValue)",
                                                        "lock": "\(lock?.path ?? "")"])
                store = sqlite
                handedBack = sqlite.handedBackAtOpen
            case .postgres(let location):
                let options = config.postgresOptions(location, password: password)
                let postgres = try await PostgresOrderStore.open(options: options, settings: config.storeSettings,
                                                                 logger: logger.with(label: "ticketd.store"))
                logger.info("database open", metadata: ["url": "\(location)", "schema": "\(PostgresMigrations.latest)",
                                                        "node": "\(options.nodeID)", "pool": "\(options.poolSize)"])
                store = postgres
                handedBack = postgres.handedBackAtOpen
            }
        } catch {
            socket.closeUnused()
            throw error
        }
        if !handedBack.isEmpty {
            logger.notice("orders left cooking by an earlier run were handed back",
                          metadata: ["count": "\(handedBack.count)"])
        }
        let estimator = CookTimeEstimator()
        let state = ServiceState()
        // One metrics registry for the daemon: HTTP renders it at /metrics, the kitchen writes to it.
        let registry = PrometheusCollectorRegistry()
        let env = APIEnvironment(store: store, settings: config.apiSettings(adminToken: adminToken),
                                 estimator: estimator, state: state, registry: registry)
        let kitchenSettings = KitchenSettingsBox(config.kitchenSettings)
        let kitchen = Kitchen(store: store, settings: kitchenSettings, estimator: estimator,
                              metrics: PrometheusMetricsFactory(registry: registry), logger: logger.with(label: "ticketd.kitchen"))
        let sweeper = Sweeper(store: store, settings: kitchenSettings, logger: logger.with(label: "ticketd.sweeper"))
        let notifier = SystemdNotifier()
        let coordinator = LifecycleCoordinator(store: store, state: state, kitchen: kitchen, notifier: notifier,
                                               logger: logger.with(label: "ticketd"))
        let reloader = Reloader(daemon: self, store: store, env: env, kitchenSettings: kitchenSettings,
                                notifier: notifier, logger: logger.with(label: "ticketd.reload"))
        let server = TicketAPI.server(env, socket: socket, limits: config.connectionLimits,
                                      logger: logger.with(label: "ticketd.http", level: max(config.logLevel, .notice)),
                                      onRunning: { [inherited = socket.inherited] address in
                                          coordinator.serverRunning(address: address + (inherited ? " (socket from systemd)" : ""))
                                      })
        coordinator.onShutdownStopAccepting { server.stopAccepting() }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: StoreService(store: store)),
                    .init(service: sweeper),
                    .init(service: KitchenService(kitchen: kitchen)),
                    .init(service: server),
                    .init(service: reloader),
                    .init(service: coordinator),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger.with(label: "ticketd.lifecycle", level: max(config.logLevel, .notice))
            )
        )
        do {
            try await group.run()
        } catch {
            closeStore(store)
            throw error
        }
        closeStore(store)
        withExtendedLifetime(lock) {}
        logger.info("stopped cleanly")
    }

    /// Checkpoints and closes the database. A checkpoint that cannot complete (a full disk) is
    /// logged, not fatal: what was committed is safe in the WAL, and the next start replays it.
    private func closeStore(_ store: any OrderStore) {
        do {
            try store.close()
        } catch {
            logger.warning("the database was closed without a final checkpoint; the WAL keeps the last commits",
                           metadata: ["error": "\(error)"])
        }
    }
}

/// Runs the store's background work (the group-commit writer) as a service of the group: it is
/// stopped last, so that what is pending is written before the database is closed.
struct StoreService: Service {
    let store: any OrderStore

    func run() async { await store.run() }
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
    /// The PostgreSQL store's options for `location` (the password read at start).
    public func postgresOptions(_ location: PostgresLocation, password: String?) -> PostgresOptions {
        let tls: PostgresOptions.TLSMode = switch location.sslMode {
        case .disable: .disable
        case .require: .require
        case .verifyFull: .verifyFull
        }
        return PostgresOptions(host: location.host, port: location.port, username: location.user, password: password,
                               database: location.database, tls: tls, poolSize: databasePoolSize, nodeID: nodeIdentity)
    }

    func apiSettings(adminToken: String?) -> APISettings {
        APISettings(menu: coreMenu, longPollMaxSeconds: longPollMaxSeconds, maxBodyBytes: maxBodyBytes,
                    adminToken: adminToken, cooks: kitchen.cooks, maxWaiters: maxWaiters,
                    eventStreamMaxSeconds: eventStreamMaxSeconds)
    }

    var coreMenu: Menu { Menu(items: menu.map { Menu.Item(name: $0.item, cookSeconds: $0.cookSeconds) }) }

    var kitchenSettings: KitchenSettings {
        KitchenSettings(
            cooks: kitchen.cooks, ordersPerCook: kitchen.ordersPerCook,
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
