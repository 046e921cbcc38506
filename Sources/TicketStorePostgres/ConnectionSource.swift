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

    init(client: PostgresClient, timeout: Duration, logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    private enum Lease: Sendable { case waiting, acquired, timedOut }

    /// Runs `body` with a pooled connection. Throws `unavailable` when none came within the
    /// deadline or the connection failed, or what `body` throws.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let lease = Locked(Lease.waiting)
        let timeout = self.timeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await self.client.withConnection { connection in
                        let go = lease.withLock { l -> Bool in
                            guard l == .waiting else { return false }
                            l = .acquired
                            return true
                        }
                        guard go else { throw StoreError.unavailable("no database connection within \(timeout)") }
                        return try await body(connection)
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    let late = lease.withLock { l -> Bool in
                        guard l == .waiting else { return false }
                        l = .timedOut
                        return true
                    }
                    if late { throw StoreError.unavailable("no database connection within \(timeout)") }
                    return nil
                }
                while let result = try await group.next() {
                    if let result {
                        group.cancelAll()
                        return result
                    }
                }
                throw StoreError.unavailable("no database connection")
            }
        } catch {
            throw PostgresErrors.mapped(error)
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
