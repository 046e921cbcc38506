import Logging
import PostgresNIO
import Synchronization
import TicketCore
import TicketStore

/// The node's own session with PostgreSQL, apart from the pool: it holds the node's advisory
/// lock (two running nodes never share a `node_id`, so a node's hand-back at start touches only
/// its own earlier runs' leases), the sweeper's lock when this node is the one that sweeps, and
/// `LISTEN ticketd` for the other nodes' notifications. Lost, it is re-established with backoff
/// (up to 5 s); the locks are taken again, and the store catches up on what it missed.
final class NodeLink: Sendable {
    let options: PostgresOptions
    let logger: Logger
    /// Keys of the advisory locks (pg_try_advisory_lock(bigint)).
    static let sweeperLockKey: Int64 = 0x7469_636b_6574_6402

    private struct State {
        var connection: PostgresConnection?
        var isSweeper = false
        /// The connection's LISTEN is in place (notifications committed from now on arrive).
        var listening = false
        var lastSweeperAttempt: ContinuousClock.Instant?
        var everConnected = false
        /// `close()` ran: a connection the listener opens after it is closed at once, not kept
        /// (a connection dropped unclosed trips postgres-nio's assertion in its deinit).
        var closed = false
    }
    private let state = Mutex(State())

    init(options: PostgresOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// A store released without `close()` (a caller that failed between open and close) still
    /// ends its session: the connection is closed, and kept alive until it is (postgres-nio
    /// asserts that a connection is closed before it is freed).
    deinit {
        guard let connection = state.withLock({ $0.connection }), !connection.isClosed else { return }
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    var isConnected: Bool { state.withLock { $0.connection.map { !$0.isClosed } ?? false } }

    /// True once this session listens: every later commit's notification reaches it.
    var isListening: Bool { state.withLock { $0.listening && ($0.connection.map { !$0.isClosed } ?? false) } }

    /// Connects and takes the node's lock. Throws `StoreOpenError.cannotOpen` when PostgreSQL
    /// cannot be reached or another running node holds this `node_id`.
    func open() async throws -> PostgresConnection {
        let connection: PostgresConnection
        do {
            connection = try await options.connect(role: "listen", logger: logger)
        } catch {
            throw StoreOpenError.cannotOpen(path: options.displayURL, reason: PostgresErrors.describe(error))
        }
        do {
            guard try await takeNodeLock(connection, waiting: Self.nodeLockWait) else {
                try? await connection.close()
                throw StoreOpenError.cannotOpen(path: options.displayURL, reason: """
                    another running ticketd uses node_id '\(options.nodeID)' on this database; \
                    give each node its own node_id
                    """)
            }
        } catch let error as StoreOpenError {
            throw error
        } catch {
            try? await connection.close()
            throw StoreOpenError.cannotOpen(path: options.displayURL, reason: PostgresErrors.describe(error))
        }
        state.withLock {
            $0.connection = connection
            $0.everConnected = true
        }
        return connection
    }

    /// How long a starting node waits for its node lock: the session of this node's previous
    /// run (a restart, a store closed and opened again) may not have ended on the server yet.
    static let nodeLockWait: Duration = .seconds(3)

    /// Takes the node's lock, trying every 100 ms for up to `waiting`; false if another session
    /// still holds it then.
    private func takeNodeLock(_ connection: PostgresConnection, waiting: Duration) async throws -> Bool {
        let key = "ticketd-node:" + options.nodeID
        let giveUpAt = ContinuousClock.now + waiting
        while true {
            let taken = try await connection.rows("SELECT pg_try_advisory_lock(hashtextextended(\(key), 0))",
                                                  logger: logger) { try $0.decode(Bool.self) }.first ?? false
            if taken || ContinuousClock.now >= giveUpAt { return taken }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// True while this node holds the sweeper's lock. When it does not, tries to take it (at most
    /// once a second): the node that held it died or lost its session, and this one takes over.
    func holdsSweeperRole() async -> Bool {
        let (connection, held, due) = state.withLock { s -> (PostgresConnection?, Bool, Bool) in
            let now = ContinuousClock.now
            let due = s.lastSweeperAttempt.map { now - $0 >= .seconds(1) } ?? true
            if due && !s.isSweeper { s.lastSweeperAttempt = now }
            return (s.connection, s.isSweeper, due)
        }
        guard let connection, !connection.isClosed else {
            state.withLock { $0.isSweeper = false }
            return false
        }
        if held { return true }
        guard due else { return false }
        let taken = (try? await connection.rows("SELECT pg_try_advisory_lock(\(Self.sweeperLockKey))", logger: logger) {
            try $0.decode(Bool.self)
        }.first) ?? false
        if taken {
            state.withLock { $0.isSweeper = true }
            logger.notice("this node now runs the sweeps (expired leases, uncollected orders, retention)",
                          metadata: ["node": "\(options.nodeID)"])
        }
        return taken
    }

    /// Listens until cancelled: every notification goes to `onNotice`; after each (re)connection,
    /// before anything else is delivered, `onCatchUp` re-reads what may have been missed.
    func run(onNotice: @escaping @Sendable (String) async -> Void, onCatchUp: @escaping @Sendable () async -> Void) async {
        var backoff = 0.1
        while !Task.isCancelled {
            var connection = state.withLock { $0.connection }
            if connection == nil || connection?.isClosed == true {
                do {
                    let fresh = try await options.connect(role: "listen", logger: logger)
                    let locked: Bool
                    do {
                        locked = try await takeNodeLock(fresh, waiting: Self.nodeLockWait)
                    } catch {
                        try? await fresh.close()
                        throw error
                    }
                    if !locked {
                        logger.error("another running ticketd took this node_id while the connection was lost",
                                     metadata: ["node": "\(options.nodeID)"])
                    }
                    let kept = state.withLock { s -> Bool in
                        guard !s.closed else { return false }
                        s.connection = fresh
                        return true
                    }
                    guard kept else {
                        try? await fresh.close()
                        break
                    }
                    connection = fresh
                    logger.notice("connection to PostgreSQL re-established; catching up", metadata: ["node": "\(options.nodeID)"])
                } catch {
                    if Task.isCancelled { break }
                    logger.warning("cannot reach PostgreSQL; retrying", metadata: [
                        "error": "\(PostgresErrors.describe(error))", "retry_in_ms": "\(Int(backoff * 1000))"])
                    try? await Task.sleep(for: .milliseconds(Int64(backoff * 1000)))
                    backoff = min(5, backoff * 2)
                    continue
                }
            }
            guard let connection else { continue }
            do {
                try await connection.listen(on: ChangeNotice.channel) { notifications in
                    backoff = 0.1
                    state.withLock { $0.listening = true }
                    // Whatever committed while nobody listened: re-read (the first time too: commits
                    // between opening and listening).
                    await onCatchUp()
                    for try await notification in notifications {
                        await onNotice(notification.payload)
                    }
                }
                if Task.isCancelled { break }
            } catch {
                if Task.isCancelled { break }
                logger.warning("lost the LISTEN connection to PostgreSQL; reconnecting",
                               metadata: ["error": "\(PostgresErrors.describe(error))"])
            }
            // The session is gone, and with it the locks.
            state.withLock { s in
                s.listening = false
                if s.isSweeper { s.isSweeper = false }
                s.connection = nil
            }
            try? await connection.close()
            try? await Task.sleep(for: .milliseconds(Int64(backoff * 1000)))
            backoff = min(5, backoff * 2)
        }
    }

    /// Closes the session (its locks go with it).
    func close() async {
        let connection = state.withLock { s -> PostgresConnection? in
            defer { s.connection = nil; s.isSweeper = false; s.listening = false; s.closed = true }
            return s.connection
        }
        try? await connection?.close()
    }
}
