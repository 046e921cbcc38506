import Logging
import PostgresNIO
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// The orders database on PostgreSQL: the `OrderStore` of a node among many on one database.
/// Reads go to the pool; every write of this node goes through its group-commit `writer`; the
/// node's own session (`NodeLink`) holds its locks and listens to the other nodes' commits,
/// which it publishes to this node's `ChangeFeed` as if they were its own. Time comes from the
/// database (`now()`), never from a node's clock.
///
/// Open it with `open(…)`, run it (`run()`, a service of the daemon: the pool, the writer and the
/// listener), and `close()` it once `run()` has returned.
public final class PostgresOrderStore: OrderStore, Sendable {
    public let options: PostgresOptions
    public let changes: ChangeFeed
    let writer: PostgresWriter
    let pool: ConnectionSource
    let link: NodeLink
    let logger: Logger
    private let settingsBox: Mutex<StoreSettings>
    /// Queued orders of every node in claim order, in memory: positions and the queue's length.
    let queue: QueueMirror
    /// The tickets of orders this node has read, by id: a notification names ids, a waiter a ticket.
    let ticketsByID = TicketsByID()
    /// Distinguishes this store's own notifications from the other nodes' (one per start).
    let instance = TicketID.generate()
    /// Placements made in the current batch (not yet in `queue`, which follows commits).
    let writerCache = Mutex(WriterCache())
    /// Set when a catch-up or a notification's re-read failed: the next sweep catches up.
    let needsCatchUp = Atomic<Bool>(false)
    /// Other nodes' notifications that made this node read the orders they named (someone here
    /// waited on one of them).
    let noticeReads = Atomic<Int>(0)
    /// Sweeps in a row that found the queue index disagreeing with the table.
    let queueDrift = Mutex(0)
    private let ping = WriterPing()
    /// The pool's run and its watchdog (cancelled by `close()`).
    private let poolTask = Mutex<[Task<Void, Never>]>([])
    /// The orders this node's earlier runs left cooking, handed back when the store opened.
    public let handedBackAtOpen: [Order]
    /// The migrations applied when the store opened.
    public let migratedAtOpen: [String]

    struct WriterCache {
        var batch: UInt64 = 0
        var placedNormal = 0
        var placedRush = 0
    }

    private init(options: PostgresOptions, settings: StoreSettings, changes: ChangeFeed, logger: Logger, link: NodeLink,
                 queue: QueueMirror, handedBack: [Order], migrated: [String]) {
        self.options = options
        self.changes = changes
        self.logger = logger
        self.link = link
        self.queue = queue
        self.handedBackAtOpen = handedBack
        self.migratedAtOpen = migrated
        self.settingsBox = Mutex(settings)
        let client = PostgresClient(configuration: options.clientConfiguration(), backgroundLogger: logger)
        pool = ConnectionSource(client: client, timeout: .milliseconds(Int64(options.connectTimeoutSeconds * 1000)),
                                logger: logger)
        let instance = self.instance
        writer = PostgresWriter(pool: pool, changes: changes, logger: logger,
                                notice: { effects in Self.notice(effects, sender: instance) },
                                afterCommit: { effects in queue.apply(effects.changes) })
    }

    /// Connects, takes the node's lock (another running node with the same `node_id` is refused),
    /// applies the migrations, hands back what this node's earlier runs left cooking, and reads
    /// the queue, before anything can claim. Throws `StoreOpenError` when PostgreSQL cannot be
    /// reached, the node id is taken, or the database was written by a newer ticketd.
    public static func open(options: PostgresOptions, settings: StoreSettings = StoreSettings(),
                            changes: ChangeFeed = ChangeFeed(),
                            logger: Logger = Logger(label: "ticketd.store")) async throws -> PostgresOrderStore {
        let link = NodeLink(options: options, logger: logger)
        let connection = try await link.open()
        let queue = QueueMirror()
        let migrated: [String]
        let handedBack: [Order]
        do {
            migrated = try await PostgresMigrations.migrate(connection, url: options.displayURL, logger: logger)
            handedBack = try await handBackAbandoned(connection, options: options, logger: logger)
            queue.beginRebuild()
            queue.finishRebuild(try await readQueue(connection, logger: logger))
        } catch let error as StoreOpenError {
            await link.close()
            throw error
        } catch {
            await link.close()
            throw StoreOpenError.cannotOpen(path: options.displayURL, reason: PostgresErrors.describe(error))
        }
        let store = PostgresOrderStore(options: options, settings: settings, changes: changes, logger: logger, link: link,
                                       queue: queue, handedBack: handedBack, migrated: migrated)
        _ = await link.holdsSweeperRole()
        return store
    }

    /// Applies the migrations and returns those applied now (`ticketd migrate`).
    public static func migrate(options: PostgresOptions, logger: Logger = Logger(label: "ticketd.store")) async throws -> [String] {
        let connection: PostgresConnection
        do {
            connection = try await options.connect(role: "migrate", logger: logger)
        } catch {
            throw StoreOpenError.cannotOpen(path: options.displayURL, reason: PostgresErrors.describe(error))
        }
        do {
            let applied = try await PostgresMigrations.migrate(connection, url: options.displayURL, logger: logger)
            try? await connection.close()
            return applied
        } catch let error as StoreOpenError {
            try? await connection.close()
            throw error
        } catch {
            try? await connection.close()
            throw StoreOpenError.cannotOpen(path: options.displayURL, reason: PostgresErrors.describe(error))
        }
    }

    static func readQueue(_ connection: PostgresConnection,
                          logger: Logger) async throws -> [(id: Int64, priority: OrderPriority, version: Int)] {
        try await connection.rows(PostgresQuery(unsafeSQL: PostgresSQL.queued), logger: logger) { row in
            let (id, priority, version) = try row.decode((Int64, String, Int).self)
            return (id, OrderPriority(rawValue: priority) ?? .normal, version)
        }
    }

    public var settings: StoreSettings { settingsBox.withLock { $0 } }

    public func update(settings: StoreSettings) {
        settingsBox.withLock { $0 = settings }
    }

    /// The node's clock (or the test clock): what HTTP renders estimates with. What the store
    /// writes takes its time from the database.
    public func now() -> Timestamp { options.injectedClock?.now() ?? SystemWallClock().now() }

    /// The time bound to `ticketd_now($1)`: the injected test clock's, or NULL (the database's).
    var injectedNow: Int64? { options.injectedClock?.now().milliseconds }

    /// Runs the pool, the writer and the listener until graceful shutdown or `stop()`; returns
    /// once everything pending is written. The pool keeps serving reads until `close()`.
    public func run() async {
        // The pool would close at the first sign of graceful shutdown (PostgresClient cancels its
        // run then); the writer still has to drain, so the pool runs outside that context and
        // stops after the writer.
        let client = pool.client
        let task = Task.detached { await client.run() }
        // One watchdog for the pool's uses and the writer's batches, until `close()`.
        let pool = self.pool
        let writer = self.writer
        let watchdog = Task.detached {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                pool.watch()
                writer.watch()
            }
        }
        poolTask.withLock { $0 = [task, watchdog] }
        // The listener is not waited for once the writer is done: postgres-nio's LISTEN was seen
        // not to end on cancellation after its connection closed under it, and the daemon's
        // shutdown waited for it. `close()` closes its session.
        let listener = Task {
            await self.link.run(onNotice: { payload in await self.received(payload) },
                                onCatchUp: { await self.catchUp() })
        }
        await writer.run()
        listener.cancel()
    }

    public func stop() { writer.close() }

    public var statistics: StoreStatistics { writer.statistics }

    /// Closes the pool and the node's session (releasing its locks) once `run()` has returned:
    /// reads work until then, as on SQLite.
    public func close() throws {
        for task in poolTask.withLock({ $0 }) { task.cancel() }
        let link = self.link
        Task { await link.close() }
    }

    // MARK: Health

    public func isHealthy() async -> Bool {
        (try? await pool.scalar("SELECT 1", as: Int32.self)) == 1
    }

    /// True when a write batch commits, or fails because the database refuses it (down,
    /// restarting): the writer runs, it is the environment that refuses — restarting ticketd
    /// would not help, so the watchdog keeps pinging.
    public func writesAnswer(within timeout: Duration) async -> Bool {
        await ping.writesAnswer(within: timeout, patience: options.connectTimeoutSeconds + 2,
                                runningBatchSeconds: { writer.runningBatchSeconds },
                                ping: { try await self.writer.write { connection, _ in
                                    try await connection.exec("SELECT 1", logger: self.logger)
                                } })
    }

    /// The applied migration identifiers, oldest first.
    public func appliedMigrations() async throws -> [String] {
        let logger = self.logger
        return try await pool.withConnection { try await PostgresMigrations.applied($0, logger: logger) }
    }

    /// True while this node holds the sweeper's lock (taking it if free).
    public func holdsSweeperRole() async -> Bool { await link.holdsSweeperRole() }

    /// True while the node's own session (LISTEN) is connected.
    public var isListening: Bool { link.isListening }
}

/// The tickets of orders this node has read, by order id, in two generations (a bounded map):
/// a notification from another node names ids, and only the ones someone waits on here are
/// re-read. A waiter always reads its ticket first, so it is in here.
final class TicketsByID: Sendable {
    private struct Generations {
        var current: [Int64: String] = [:]
        var previous: [Int64: String] = [:]
    }
    private let generations = Mutex(Generations())
    static let generationSize = 65_536

    func record(_ order: Order) {
        generations.withLock { g in
            g.current[order.id] = order.ticket
            if g.current.count >= Self.generationSize {
                g.previous = g.current
                g.current = [:]
            }
        }
    }

    func ticket(_ id: Int64) -> String? {
        generations.withLock { $0.current[id] ?? $0.previous[id] }
    }
}
