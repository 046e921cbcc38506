import Logging
import PostgresNIO
import TicketStore

/// How PostgreSQL's errors reach callers: the database gone or refusing (a connection lost, the
/// server restarting or out of resources) is `StoreError.unavailable` (503 + Retry-After); a
/// `StoreError` passes; anything else is a defect and passes as it is.
enum PostgresErrors {
    /// The SQLSTATE of a server error.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The constraint a server error names.
    static func constraint(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.constraintName]
    }

    /// True when the connection or the server is gone (not the request's fault).
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if let store = error as? StoreError, case .unavailable = store { return true }
        guard let e = error as? PSQLError else { return false }
        switch e.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
             .sslUnsupported, .failedToAddSSLHandler:
            return true
        default:
            break
        }
        guard let state = sqlState(e) else { return false }
        // 08: connection exception; 57P01..03: admin shutdown, crash shutdown, cannot connect now;
        // 53: insufficient resources (disk full, out of memory, too many connections).
        return state.hasPrefix("08") || state.hasPrefix("53") || ["57P01", "57P02", "57P03"].contains(state)
    }

    /// What a write's or read's caller gets for `error`.
    static func mapped(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        if isConnectionLoss(error) { return StoreError.unavailable(describe(error)) }
        if let e = error as? PSQLError { return PostgresStatementError(sqlState: sqlState(e), message: describe(e)) }
        return error
    }

    /// A short reason for logs and 503 answers.
    static func describe(_ error: any Error) -> String {
        if let store = error as? StoreError {
            if case .unavailable(let why) = store { return why }
            return store.description
        }
        if let e = error as? PostgresStatementError { return e.message }
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(e.serverInfo?[.sqlState] ?? "?"))"
            }
            switch e.code {
            case .connectionError: return "cannot connect to PostgreSQL: \(e.underlying.map { "\($0)" } ?? "connection error")"
            case .serverClosedConnection: return "PostgreSQL closed the connection"
            case .clientClosedConnection: return "the connection to PostgreSQL was closed"
            case .uncleanShutdown: return "the connection to PostgreSQL ended uncleanly"
            case .poolClosed: return "the connection pool is closed"
            default: return "\(e.code)"
            }
        }
        return "\(error)"
    }
}

/// A statement PostgreSQL refused for a reason other than its availability (a defect, or a
/// constraint that the code should have kept): the server's message and SQLSTATE, readable in
/// logs (postgres-nio's own error hides them from `description`).
public struct PostgresStatementError: Error, Sendable, CustomStringConvertible {
    public var sqlState: String?
    public var message: String
    public var description: String { "PostgreSQL refused a statement: \(message)" }
}

extension PostgresConnection {
    /// Runs a statement whose rows (if any) do not matter.
    func exec(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }

    /// Runs a query and decodes every row with `decode`.
    func rows<T>(_ query: PostgresQuery, logger: Logger, _ decode: (PostgresRow) throws -> T) async throws -> [T] {
        var out: [T] = []
        for try await row in try await self.query(query, logger: logger) {
            out.append(try decode(row))
        }
        return out
    }

    /// One optional value from the first row (nil without a row).
    func scalar<T: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: T.Type, logger: Logger) async throws -> T?
    where T._DecodableType == T {
        try await rows(query, logger: logger) { try $0.makeRandomAccess()[0].decode(T?.self) }.first ?? nil
    }

    /// The orders a query selecting `OrderRecord.columns` returns.
    func orders(_ query: PostgresQuery, logger: Logger) async throws -> [Order] {
        try await rows(query, logger: logger, OrderRecord.order)
    }
}

import TicketCore
