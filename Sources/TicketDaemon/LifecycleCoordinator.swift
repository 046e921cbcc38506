import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TicketHTTP
import TicketKitchen
import TicketStore
import TicketWaiting

/// Start-up and shut-down steps that span services. At start: reports ready (`/readyz` 200, `READY=1`) once the server listens.
/// While running: watchdog pings while the writer answers. At shutdown (it is the first service
/// stopped): `STOPPING=1`, refuse new orders, answer every waiting long poll and end SSE
/// streams, and start the kitchen's grace period.
final class LifecycleCoordinator: Service, Sendable {
    let store: any OrderStore
    let state: ServiceState
    let kitchen: Kitchen
    let notifier: SystemdNotifier
    let logger: Logger
    private let listening = Gate()
    private let address = Mutex<String?>(nil)
    /// Stops the HTTP server accepting connections (set once the server exists).
    private let stopAccepting = Mutex<(@Sendable () -> Void)?>(nil)

    init(store: any OrderStore, state: ServiceState, kitchen: Kitchen, notifier: SystemdNotifier, logger: Logger) {
        self.store = store
        self.state = state
        self.kitchen = kitchen
        self.notifier = notifier
        self.logger = logger
    }

    /// What to call to stop taking connections when shutdown begins.
    func onShutdownStopAccepting(_ stop: @escaping @Sendable () -> Void) {
        stopAccepting.withLock { $0 = stop }
    }

    func serverRunning(address: String) {
        self.address.withLock { $0 = address }
        listening.open()
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            do {
                try await cancelWhenGracefulShutdown {
                await self.listening.wait()
                self.state.markReady()
                let address = self.address.withLock { $0 } ?? "?"
                self.logger.notice("ticketd listening on \(address)")
                self.notifier.notify("READY=1\nSTATUS=serving on \(address)")
                try await self.watchdog()
                }
            } catch is CancellationError where Task.isShuttingDownGracefully {
                // Shutdown ended the start-up steps or the watchdog loop: a normal end.
            }
        } onGracefulShutdown: {
            self.beginShutdown()
        }
    }

    /// Shutdown began: no new connection is taken (under socket activation they wait in
    /// systemd's socket for the next process), requests already taken are answered in full,
    /// waiting long polls and streams answer now, and cooks get their grace period.
    func beginShutdown() {
        logger.notice("shutting down: no new connections, requests in progress answered, cooks finishing")
        notifier.notify("STOPPING=1")
        state.markStopping()
        stopAccepting.withLock { $0 }?()
        store.changes.finishAllSubscriptions()
        kitchen.beginShutdown()
    }

    /// Pings systemd at half the watchdog interval while the HTTP event loops run tasks and the
    /// writer commits; a stuck one stops the pings, and systemd restarts the daemon. Each round
    /// also sends `STATUS=` with the queue figures. Without `NOTIFY_SOCKET`, waits for shutdown.
    func watchdog() async throws {
        guard notifier.isEnabled else {
            try await gracefulShutdown()
            return
        }
        let watchdog = SystemdNotifier.watchdogInterval()
        let period = watchdog.map { $0 / 2 } ?? .seconds(5)
        let address = self.address.withLock { $0 } ?? "?"
        var lastStatus = ""
        while !Task.isCancelled {
            let started = ContinuousClock.now
            if watchdog != nil {
                if await probe(timeout: period / 2) {
                    notifier.notify("WATCHDOG=1")
                } else {
                    logger.error("an event loop or the store writer did not answer within a quarter of the watchdog interval; not pinging")
                }
            }
            if let counts = try? await store.liveCounts() {
                let status = "STATUS=serving on \(address): \(counts[.queued] ?? 0) queued, \(counts[.cooking] ?? 0) cooking, \(counts[.ready] ?? 0) ready"
                if status != lastStatus {
                    notifier.notify(status)
                    lastStatus = status
                }
            }
            try await Task.sleep(until: started + period)
        }
    }

    /// True when every event loop of the server runs a task and the store's writes answer
    /// (`OrderStore.writesAnswer`) within `timeout`.
    func probe(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
                    guard (try? await loop.submit({}).get()) != nil else { return false }
                }
                return await self.store.writesAnswer(within: timeout)
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}
