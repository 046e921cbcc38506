import Logging
import PostgresNIO
import Synchronization
import TicketStore

/// The pool (`PostgresClient`) with a watchdog on every use of a connection: while PostgreSQL is
/// down or restarting, a read fails with `StoreError.unavailable` after `connectTimeoutSeconds`
/// instead of waiting for the database to come back; and a query whose connection closed under
/// it fails a second later, even though postgres-nio can leave such a query waiting for good
/// (seen after `pg_ctl restart -m immediate`: a cook's read never returned, and the daemon's
/// shutdown waited for that cook).
final class ConnectionSource: Sendable {
    let client: PostgresClient
    let timeout: Duration
    let logger: Logger
    /// When the watchdog gives up on a use: no connection within the connect timeout, its
    /// connection closed for a second, or a query running past 30 s (its connection is closed).
    private var watchRules: ConnectionWatch.Rules {
        let useLimit: Duration = .seconds(30)
        return ConnectionWatch.Rules(lease: timeout, run: useLimit, grace: .seconds(1),
                                     lost: "the database connection was lost",
                                     overrun: "a database query ran past \(useLimit)")
    }

    private let inFlight = Mutex<[ObjectIdentifier: any WatchedUse]>([:])

    init(client: PostgresClient, timeout: Duration, logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs `body` with a pooled connection. Throws `unavailable` when none came within the
    /// deadline or the connection failed, or what `body` throws.
    ///
    /// The use runs in a task of its own that this call stops waiting for when the watchdog
    /// gives up on it (`watch()`); a connection that comes after that is handed back at once.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let use = Use<T>()
        let key = ObjectIdentifier(use)
        let client = self.client
        let timeout = self.timeout
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            use.start(continuation)
            inFlight.withLock { $0[key] = use }
            Task {
                do {
                    let value = try await client.withConnection { connection in
                        guard use.attach(connection) else {
                            throw StoreError.unavailable("no database connection within \(timeout)")
                        }
                        return try await withTaskExecutorPreference(LoopExecutor.of(connection.eventLoop)) {
                            try await body(connection)
                        }
                    }
                    use.finish(.success(value))
                } catch {
                    use.finish(.failure(PostgresErrors.mapped(error)))
                }
                self.inFlight.withLock { _ = $0.removeValue(forKey: key) }
            }
        }
    }

    /// The watchdog's look at every use in flight (the store runs it every 250 ms).
    func watch() {
        let now = monotonicNanoseconds()
        let rules = watchRules
        let uses = inFlight.withLock { Array($0.values) }
        for use in uses {
            guard let (reason, connection) = use.verdict(now: now, rules) else { continue }
            use.fail(StoreError.unavailable(reason))
            inFlight.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(use)) }
            if let connection { Task { try? await connection.close() } }
        }
    }

    /// Every row of a prepared statement, on a pooled connection.
    func all<S: PostgresPreparedStatement & Sendable>(_ statement: S) async throws -> [S.Row] where S.Row: Sendable {
        let logger = self.logger
        return try await withConnection { try await $0.all(statement, logger: logger) }
    }

    /// The orders a query selecting `OrderRecord.columns` returns.
    func orders(_ query: PostgresQuery) async throws -> [Order] {
        let logger = self.logger
        return try await withConnection { try await $0.orders(query, logger: logger) }
    }

    /// One optional value from the first row (nil without a row).
    func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type) async throws -> T? where T._DecodableType == T {
        let logger = self.logger
        return try await withConnection { try await $0.scalar(query, as: type, logger: logger) }
    }
}

import TicketCore

/// A value behind a lock, shared by reference between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) throws -> sending R) rethrows -> sending R { try mutex.withLock(body) }
}

/// A use of a pooled connection as the watchdog sees it.
protocol WatchedUse: AnyObject, Sendable {
    /// Why the use should be given up, if it should, and the connection to close.
    func verdict(now: UInt64, _ rules: ConnectionWatch.Rules) -> (String, PostgresConnection?)?
    func fail(_ error: any Error)
}

/// One use: waiting for a connection, then running on it; answered once, by itself or by the watchdog.
private final class Use<T: Sendable>: WatchedUse {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var watch = ConnectionWatch()
        var answered = false
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0.continuation = continuation }
    }

    /// The pool gave a connection; false when the use was given up already (hand it back).
    func attach(_ connection: PostgresConnection) -> Bool {
        state.withLock { s in
            guard !s.answered else { return false }
            s.watch.attach(connection)
            return true
        }
    }

    func finish(_ result: Result<T, any Error>) {
        let continuation = state.withLock { s -> CheckedContinuation<T, any Error>? in
            guard !s.answered else { return nil }
            s.answered = true
            defer { s.continuation = nil }
            return s.continuation
        }
        continuation?.resume(with: result)
    }

    func fail(_ error: any Error) { finish(.failure(error)) }

    func verdict(now: UInt64, _ rules: ConnectionWatch.Rules) -> (String, PostgresConnection?)? {
        state.withLock { s in s.answered ? nil : s.watch.verdict(now: now, rules) }
    }
}
