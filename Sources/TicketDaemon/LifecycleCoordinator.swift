import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import TicketHTTP
import TicketKitchen
import TicketStore

/// Start-up and shut-down steps that span services. At start: reports ready (`/readyz` 200, `READY=1`) once the server listens.
/// While running: watchdog pings while the writer answers. At shutdown (it is the first service
/// stopped): `STOPPING=1`, refuse new orders, answer every waiting long poll and end SSE
/// streams, and start the kitchen's grace period.
final class LifecycleCoordinator: Service, Sendable {
    let store: OrderStore
    let state: ServiceState
    let kitchen: Kitchen
    let notifier: SystemdNotifier
    let logger: Logger
    private let listening = Latch.Gate()
    private let address = Mutex<String?>(nil)
    /// The watchdog's writer ping: whether one is on its way, and how the last one ended.
    private let ping = WatchdogPing()

    init(store: OrderStore, state: ServiceState, kitchen: Kitchen, notifier: SystemdNotifier, logger: Logger) {
        self.store = store
        self.state = state
        self.kitchen = kitchen
        self.notifier = notifier
        self.logger = logger
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

    func beginShutdown() {
        logger.notice("shutting down: intake stopped, waiting requests answered, cooks finishing")
        notifier.notify("STOPPING=1")
        state.markStopping()
        store.notifier.finishAllSubscriptions()
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

    /// True when every event loop of the server runs a task and the writer answers
    /// (`writerAnswers`) within `timeout`.
    func probe(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
                    guard (try? await loop.submit({}).get()) != nil else { return false }
                }
                return await self.writerAnswers(within: timeout)
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

    /// True when a write batch commits, or fails because of the database (disk full, I/O): the
    /// writer runs, it is the environment that refuses. While another process holds the write
    /// lock, a batch waits up to the busy timeout before it fails; such a wait (bounded by
    /// SQLite) counts as answering too, else an operator's `sqlite3` holding a transaction for
    /// a few seconds would stop the pings and systemd would restart a healthy daemon.
    ///
    /// The ping runs in a task of its own, at most one at a time: a write cannot be cancelled,
    /// and awaiting it here would hold the watchdog for the whole busy timeout.
    func writerAnswers(within timeout: Duration) async -> Bool {
        let start = ping.state.withLock { p -> Bool in
            if p.inFlight { return false }
            p = (true, nil)
            return true
        }
        if start {
            let store = self.store, ping = self.ping
            Task {
                let answered: Bool
                do {
                    try await store.pingWriter()
                    answered = true
                } catch StoreError.unavailable {
                    answered = true
                } catch {
                    answered = false
                }
                ping.state.withLock { $0 = (false, answered) }
            }
        }
        let busyLimit = store.options.busyTimeoutSeconds + 2
        let deadline = ContinuousClock.now + timeout
        while true {
            let (inFlight, answered) = ping.state.withLock { ($0.inFlight, $0.answered) }
            if !inFlight, let answered { return answered }
            if let running = store.writer.runningBatchSeconds, running < busyLimit { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// The watchdog's writer ping: whether one is on its way, and how the last one ended.
final class WatchdogPing: Sendable {
    let state = Mutex<(inFlight: Bool, answered: Bool?)>((false, nil))
}
