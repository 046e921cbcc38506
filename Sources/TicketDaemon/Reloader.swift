import Logging
import ServiceLifecycle
import TicketHTTP
import TicketKitchen
import TicketStore
import UnixSignals

/// SIGHUP: reload the menu and the kitchen settings from the configuration file. A file that
/// does not load is refused with a log line, and the running settings stay.
final class Reloader: Service, Sendable {
    let daemon: Daemon
    let store: any OrderStore
    let env: APIEnvironment
    let kitchenSettings: KitchenSettingsBox
    let notifier: SystemdNotifier
    let logger: Logger

    init(daemon: Daemon, store: any OrderStore, env: APIEnvironment, kitchenSettings: KitchenSettingsBox,
         notifier: SystemdNotifier, logger: Logger) {
        self.daemon = daemon
        self.store = store
        self.env = env
        self.kitchenSettings = kitchenSettings
        self.notifier = notifier
        self.logger = logger
    }

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            reload()
        }
    }

    /// Loads the file again and applies what may change while running.
    func reload() {
        notifier.notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
        defer { notifier.notify("READY=1") }
        let loaded: DaemonConfiguration
        do {
            loaded = try ConfigurationLoader.load(path: daemon.configurationPath, overrides: daemon.overrides)
        } catch {
            logger.error("reload refused; the running settings stay", metadata: ["error": "\(error)"])
            return
        }
        let token = env.settings.adminToken
        store.update(settings: loaded.storeSettings)
        env.update(settings: loaded.apiSettings(adminToken: token))
        kitchenSettings.update(loaded.kitchenSettings)
        var ignored: [String] = []
        if loaded.listen != daemon.configuration.listen { ignored.append("listen") }
        if loaded.database != daemon.configuration.database { ignored.append("database") }
        if loaded.synchronous != daemon.configuration.synchronous { ignored.append("synchronous") }
        let running = daemon.configuration
        if loaded.maxConnections != running.maxConnections { ignored.append("max_connections") }
        if loaded.idleTimeoutSeconds != running.idleTimeoutSeconds { ignored.append("idle_timeout_seconds") }
        if loaded.requestReadTimeoutSeconds != running.requestReadTimeoutSeconds {
            ignored.append("request_read_timeout_seconds")
        }
        logger.notice("configuration reloaded", metadata: [
            "menu_items": "\(loaded.menu.count)", "cooks": "\(loaded.kitchen.cooks)",
            "needs_restart": "\(ignored.isEmpty ? "none" : ignored.joined(separator: ","))",
        ])
    }

    static func monotonicMicroseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }
}

#if canImport(Glibc)
import Glibc
#endif
