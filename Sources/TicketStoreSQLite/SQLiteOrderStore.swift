import Dispatch
import Foundation
import GRDB
import Logging
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// The orders database in one SQLite file, in WAL mode: the `OrderStore` of a single node.
/// Reads go to the pool's reader connections (or the ticket cache) and never wait for the
/// writer; every write goes through the group-commit `writer`, which must be running (`run()`,
/// a service of the daemon).
public final class SQLiteOrderStore: OrderStore, Sendable {
    public let options: DatabaseOptions
    public let changes: ChangeFeed
    let writer: GroupCommitWriter
    let pool: DatabasePool
    let clock: any WallClock
    let logger: Logger
    private let settingsBox: Mutex<StoreSettings>
    /// The queued orders in claim order, in memory: positions and the queue's length.
    let queue: QueueIndex
    /// The latest committed state of live orders, for polls (filled by the writer only).
    let tickets: TicketCache
    /// Opens once `warmTicketCache` is done (tests wait for it before counting on the cache).
    let cacheWarmed = Gate()
    /// What requests of the current batch keep for the next ones: placements made (not yet in
    /// `queue`, which follows commits) and the last ticket number handed out.
    let writerCache: WriterCache
    /// The watchdog's writer ping: whether one is on its way, and how the last one ended.
    private let ping = WriterPing()
    /// The orders an earlier run left cooking, handed back when this store opened (see
    /// `handBackAbandoned`), so that the daemon can say so.
    public let handedBackAtOpen: [Order]

    /// Opens (creating if needed) and migrates the database at `options.path`, then hands back
    /// what an earlier run left cooking (`handedBackAtOpen`) before anything can claim. The
    /// daemon holds the `InstanceLock` of the database before it opens the store.
    /// Throws `StoreOpenError` when the file cannot be opened or was written by a newer ticketd.
    public init(options: DatabaseOptions, settings: StoreSettings = StoreSettings(),
                clock: any WallClock = SystemWallClock(), changes: ChangeFeed = ChangeFeed(),
                logger: Logger = Logger(label: "ticketd.store")) throws {
        self.options = options
        self.clock = clock
        self.changes = changes
        self.logger = logger
        self.settingsBox = Mutex(settings)
        var config = GRDB.Configuration()
        config.busyMode = .timeout(options.busyTimeoutSeconds)
        config.maximumReaderCount = max(1, options.maxReaders)
        config.foreignKeysEnabled = true
        config.label = "ticketd"
        do {
            pool = try DatabasePool(path: options.path, configuration: config)
            // GRDB's pool sets synchronous=NORMAL on its writer after prepareDatabase runs:
            // set the wanted mode here, after opening, and read it back.
            let wanted = options.synchronous
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(wanted.rawValue)")
                // Every write runs here: a larger page cache keeps the interior pages of the big
                // indexes in memory (SQLite's default is 2 MiB; with 10M orders each placement
                // read several pages back through pread).
                try db.execute(sql: "PRAGMA cache_size = -\(DatabaseOptions.writerCacheKiB)")
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
            }
        } catch {
            throw StoreOpenError.cannotOpen(path: options.path, reason: "\(error)")
        }
        try Migrations.migrate(pool, path: options.path)
        let queue = QueueIndex()
        do {
            let now = clock.now()
            handedBackAtOpen = try pool.write { db in try Self.handBackAbandoned(db, now: now) }
            try pool.writeWithoutTransaction { db in _ = try queue.refreshIfChangedOutside(db) }
        } catch {
            throw StoreOpenError.cannotOpen(path: options.path, reason: "\(error)")
        }
        self.queue = queue
        let tickets = TicketCache()
        self.tickets = tickets
        let writerCache = WriterCache()
        self.writerCache = writerCache
        writer = GroupCommitWriter(pool: pool, changes: changes, logger: logger,
                                   beforeBatch: { db in
                                       if try queue.refreshIfChangedOutside(db) { tickets.removeAll() }
                                   },
                                   beforeCommit: { db, batch in try writerCache.writeCounter(db, batch: batch) },
                                   afterCommit: { effects in
                                       queue.apply(effects.changes)
                                       tickets.apply(effects.changes)
                                   })
    }

    /// Applies the migrations to the database at `path` and returns those applied now.
    public static func migrate(path: String) throws -> [String] {
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path)
        } catch {
            throw StoreOpenError.cannotOpen(path: path, reason: "\(error)")
        }
        defer { try? pool.close() }
        return try Migrations.migrate(pool, path: path)
    }

    public var settings: StoreSettings { settingsBox.withLock { $0 } }

    public func update(settings: StoreSettings) {
        settingsBox.withLock { $0 = settings }
    }

    public func now() -> Timestamp { clock.now() }

    /// Runs the group-commit writer until graceful shutdown or `stop()`, and meanwhile fills the
    /// ticket cache with the live orders already in the database (`warmTicketCache`).
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.warmTicketCache() }
            await writer.run()
            group.cancelAll()
        }
    }

    public func stop() { writer.close() }

    public var statistics: StoreStatistics {
        let s = writer.statistics
        return StoreStatistics(commits: s.batches, writes: s.requests, failedCommits: s.failedBatches, reruns: s.reruns)
    }

    /// Closes the database after the writer has stopped: the WAL is checkpointed into the main
    /// file and truncated, then every connection is closed, so that the `.db` file alone holds
    /// every acknowledged order (an operator who copies it from a stopped service has it all).
    /// SQLite checkpoints on its own only when the last connection to close can write, and the
    /// pool's readers, read-only, close last. Throws when the checkpoint could not complete
    /// (the committed data is still safe in the WAL, and the next open replays it).
    public func close() throws {
        var checkpointFailure: (any Error)?
        do {
            let busy = try pool.writeWithoutTransaction { db -> Int in
                try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)").map { $0[0] } ?? 1
            }
            if busy != 0 {
                checkpointFailure = StoreError.unavailable("the WAL could not be checkpointed at close (a reader held it)")
            }
        } catch {
            checkpointFailure = error
        }
        try pool.close()
        if let checkpointFailure { throw checkpointFailure }
    }

    /// The synchronous mode the writer connection really has (0 OFF, 1 NORMAL, 2 FULL).
    public func writerSynchronousMode() async throws -> Int {
        try await pool.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1
        }
    }

    /// The applied migration identifiers, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await pool.read { db in try Migrations.migrator().completedMigrations(db) }
    }

    // MARK: Health

    /// A no-op write through the writer: returns once a batch has committed.
    func pingWriter() async throws {
        try await writer.write { db, _ in try db.execute(sql: "SELECT 1") }
    }

    public func isHealthy() async -> Bool {
        (try? await pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }) == 1
    }

    /// `PRAGMA integrity_check` ("ok" when sound).
    public func integrityCheck() async throws -> String {
        try await pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "\n") }
    }

    /// True when a write batch commits, or fails because of the database (disk full, I/O): the
    /// writer runs, it is the environment that refuses. While another process holds the write
    /// lock, a batch waits up to the busy timeout before it fails; such a wait (bounded by
    /// SQLite) counts as answering too, else an operator's `sqlite3` holding a transaction for
    /// a few seconds would stop the watchdog's pings and systemd would restart a healthy daemon.
    ///
    /// The ping runs in a task of its own, at most one at a time: a write cannot be cancelled,
    /// and awaiting it here would hold the watchdog for the whole busy timeout.
    public func writesAnswer(within timeout: Duration) async -> Bool {
        await ping.writesAnswer(within: timeout, patience: options.busyTimeoutSeconds + 2,
                                runningBatchSeconds: { writer.runningBatchSeconds },
                                ping: { try await self.pingWriter() })
    }
}
