import Foundation
import GRDB
import TicketStore

/// An online backup of a SQLite database that a daemon may be writing to meanwhile.
public enum Backup {
    /// What a backup wrote.
    public struct Result: Sendable {
        public var path: String
        public var orders: Int
        public var bytes: Int
        public var integrity: String
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case exists(String)
        case failed(String)

        public var description: String {
            switch self {
            case .exists(let path): return "\(path) exists already; give a new file (a backup never overwrites one)"
            case .failed(let why): return why
            }
        }
    }

    /// Copies `database` to `target` with `VACUUM INTO`: one read transaction, so the copy is
    /// the database as of one commit, with every order acknowledged before the backup began, and
    /// WAL mode lets the daemon go on writing meanwhile (it neither waits for the copy nor is
    /// seen half-way). The copy is a single file (no `-wal`), compacted, checked with
    /// `PRAGMA integrity_check`. Restoring: stop the service, put the file in place of the
    /// database (and remove the old `-wal` and `-shm`), start it.
    public static func copy(database: String, to target: String) throws -> Result {
        guard !FileManager.default.fileExists(atPath: target) else { throw Failure.exists(target) }
        guard FileManager.default.fileExists(atPath: database) else { throw Failure.failed("no database at \(database)") }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(5)
        do {
            let source = try DatabaseQueue(path: database, configuration: config)
            defer { try? source.close() }
            try source.inDatabase { db in try db.execute(sql: "VACUUM INTO ?", arguments: [target]) }
        } catch {
            try? FileManager.default.removeItem(atPath: target)
            throw Failure.failed("the backup of \(database) to \(target) failed: \(error)")
        }
        do {
            let copy = try DatabaseQueue(path: target, configuration: config)
            defer { try? copy.close() }
            let (integrity, orders) = try copy.read { db in
                (try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; "),
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM orders") ?? 0)
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
            guard integrity == "ok" else { throw Failure.failed("the copy at \(target) fails integrity_check: \(integrity)") }
            return Result(path: target, orders: orders, bytes: bytes, integrity: integrity)
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.failed("the copy at \(target) cannot be read back: \(error)")
        }
    }
}
