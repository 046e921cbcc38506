import Logging
import PostgresNIO
import Synchronization
import TicketStore

/// The pool (`PostgresClient`) with a deadline on getting a connection: while PostgreSQL is down
/// or restarting, a read or a write fails with `StoreError.unavailable` after
/// `connectTimeoutSeconds` instead of waiting for the database to come back.
final class ConnectionSource: Sendable {
    let client: PostgresClient
    let timeout: Duration
    let logger: Logger

    /// The node's own session is up (it notices a lost server within milliseconds).
    let reachable: @Sendable () -> Bool

    init(client: PostgresClient, timeout: Duration, logger: Logger, reachable: @escaping @Sendable () -> Bool = { true }) {
        self.client = client
        self.timeout = timeout
        self.logger = logger
        self.reachable = reachable
    }

    private enum Lease: Sendable { case waiting, acquired, timedOut }

    /// Runs `body` with a pooled connection. Throws `unavailable` when none came within the
    /// deadline or the connection failed, or what `body` throws.
    ///
    /// The lease runs in a task of its own that this call does not wait for once the deadline has
    /// passed: after an immediate restart of the database, a cancelled lease of the pool was seen
    /// not to end, and a task group (which waits for its children) held the node's writer for good.
    /// A connection that comes after the deadline is handed back at once.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        // While the database answers (the last lease worked and the node's own session is up),
        // the pool alone: two tasks and a timer per read cost a third of a poll. A lost
        // connection turns the deadline back on until a lease succeeds again.
        if healthy.load(ordering: .relaxed) && reachable() {
            do {
                let value = try await client.withConnection { try await body($0) }
                return value
            } catch {
                if PostgresErrors.isConnectionLoss(error) { healthy.store(false, ordering: .relaxed) }
                throw PostgresErrors.mapped(error)
            }
        }
        let value = try await withDeadline(body)
        healthy.store(true, ordering: .relaxed)
        return value
    }

    /// Whether the last guarded lease succeeded (see `withConnection`).
    private let healthy = Atomic<Bool>(false)

    private func withDeadline<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let lease = Locked(Lease.waiting)
        let outcome = Locked<CheckedContinuation<T, any Error>?>(nil)
        let timeout = self.timeout
        let client = self.client
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            outcome.withLock { $0 = continuation }
            @Sendable func finish(_ result: Result<T, any Error>) {
                let waiting = outcome.withLock { c -> CheckedContinuation<T, any Error>? in
                    defer { c = nil }
                    return c
                }
                waiting?.resume(with: result.mapError { PostgresErrors.mapped($0) })
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                if Task.isCancelled { return }
                let late = lease.withLock { l -> Bool in
                    guard l == .waiting else { return false }
                    l = .timedOut
                    return true
                }
                if late { finish(.failure(StoreError.unavailable("no database connection within \(timeout)"))) }
            }
            Task {
                do {
                    let value = try await client.withConnection { connection in
                        let go = lease.withLock { l -> Bool in
                            guard l == .waiting else { return false }
                            l = .acquired
                            return true
                        }
                        guard go else { throw StoreError.unavailable("no database connection within \(timeout)") }
                        timer.cancel()
                        return try await body(connection)
                    }
                    finish(.success(value))
                } catch {
                    timer.cancel()
                    finish(.failure(error))
                }
            }
        }
    }

    /// The orders a query selecting `OrderRecord.columns` returns.
    func orders(_ query: PostgresQuery) async throws -> [Order] {
        let logger = self.logger
        return try await withConnection { try await $0.orders(query, logger: logger) }
    }

    /// One optional value from the first row (nil without a row).
    func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type) async throws -> T? where T._DecodableType == T {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.rows(query, logger: logger) { try $0.makeRandomAccess()[0].decode(T?.self) }.first ?? nil
        }
    }
}

import TicketCore

/// A value behind a lock, shared by reference between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) throws -> sending R) rethrows -> sending R { try mutex.withLock(body) }
}
