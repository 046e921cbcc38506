import Logging
import PostgresNIO
import TicketStore

/// The PostgreSQL schema migrations, embedded at build time from the repository's
/// `migrations/postgres/` (the target's `migrations` entry is a symlink to it). Each applies once,
/// in its own transaction, recorded in `ticketd_migrations`; several nodes starting at once take
/// turns on an advisory lock. A database holding a migration this binary does not know was
/// written by a newer ticketd and is refused.
public enum PostgresMigrations {
    /// (identifier, SQL) in the order they apply. The identifier is the file name without `.sql`.
    public static let all: [(identifier: String, sql: String)] = [
        ("0001_initial", String(decoding: PackageResources._001_initial_sql, as: UTF8.self)),
        ("0002_number_sequence", String(decoding: PackageResources._002_number_sequence_sql, as: UTF8.self)),
    ]

    /// The newest migration this binary knows.
    public static var latest: String { all.last?.identifier ?? "none" }

    /// The advisory lock key that serialises migrators (any constant of our own).
    static let lockKey: Int64 = 0x7469_636b_6574_6401  // "ticketd" + 1

    /// Applies what is missing on `connection`. Throws `StoreOpenError.databaseTooNew` when the
    /// database holds a migration this binary does not know. Returns the identifiers applied now.
    @discardableResult
    static func migrate(_ connection: PostgresConnection, url: String, logger: Logger) async throws -> [String] {
        var appliedNow: [String] = []
        try await connection.withTransaction(logger: logger) { conn in
            // Nodes starting together take turns from here.
            _ = try await conn.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger).collect()
            _ = try await conn.query("""
                CREATE TABLE IF NOT EXISTS ticketd_migrations (
                    identifier text PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())
                """, logger: logger).collect()
            var applied = Set<String>()
            for try await identifier in try await conn.query("SELECT identifier FROM ticketd_migrations", logger: logger)
                .decode(String.self) {
                applied.insert(identifier)
            }
            let known = Set(all.map(\.identifier))
            let unknown = applied.subtracting(known).sorted()
            if !unknown.isEmpty {
                throw StoreOpenError.databaseTooNew(path: url, unknown: unknown, known: latest)
            }
            for (identifier, sql) in all where !applied.contains(identifier) {
                // The extended protocol takes one statement at a time.
                for statement in SQLScript.statements(sql) {
                    _ = try await conn.query(PostgresQuery(unsafeSQL: statement), logger: logger).collect()
                }
                _ = try await conn.query("INSERT INTO ticketd_migrations (identifier) VALUES (\(identifier))",
                                         logger: logger).collect()
                appliedNow.append(identifier)
            }
        }
        return appliedNow
    }

    /// The applied migration identifiers, oldest first.
    static func applied(_ connection: PostgresConnection, logger: Logger) async throws -> [String] {
        var out: [String] = []
        for try await identifier in try await connection.query(
            "SELECT identifier FROM ticketd_migrations ORDER BY identifier", logger: logger).decode(String.self) {
            out.append(identifier)
        }
        return out
    }
}
