import GRDB
import TicketStore

/// The schema migrations, embedded at build time from the repository's `migrations/`
/// directory (the target's `migrations` entry is a symlink to it, built with
/// `.embedInCode`). A test checks this list against the directory, so a new file that is not
/// listed here fails the build's tests.
public enum Migrations {
    /// (identifier, SQL) in the order they apply. The identifier is the file name without `.sql`.
    public static let all: [(identifier: String, sql: String)] = [
        ("0001_initial", String(decoding: PackageResources._001_initial_sql, as: UTF8.self)),
        ("0002_status_checks_without_in_lists",
         String(decoding: PackageResources._002_status_checks_without_in_lists_sql, as: UTF8.self)),
        ("0003_status_index_past_the_queue",
         String(decoding: PackageResources._003_status_index_past_the_queue_sql, as: UTF8.self)),
    ]

    /// The newest migration this binary knows.
    public static var latest: String { all.last?.identifier ?? "none" }

    /// A GRDB migrator with every migration, each applied once, in its own transaction, and
    /// recorded in the `grdb_migrations` table.
    static func migrator() -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for (identifier, sql) in all {
            migrator.registerMigration(identifier) { db in
                try db.execute(sql: sql)
            }
        }
        return migrator
    }

    /// Applies what is missing. Throws `StoreOpenError.databaseTooNew` when the database holds a
    /// migration this binary does not know. Returns the identifiers applied now.
    @discardableResult
    static func migrate(_ writer: any DatabaseWriter, path: String) throws -> [String] {
        let migrator = migrator()
        let known = Set(all.map(\.identifier))
        let (applied, superseded) = try writer.read { db in
            (try migrator.appliedIdentifiers(db), try migrator.hasBeenSuperseded(db))
        }
        let unknown = applied.subtracting(known).sorted()
        if superseded || !unknown.isEmpty {
            throw StoreOpenError.databaseTooNew(path: path, unknown: unknown, known: latest)
        }
        let missing = all.map(\.identifier).filter { !applied.contains($0) }
        try migrator.migrate(writer)
        return missing
    }
}
