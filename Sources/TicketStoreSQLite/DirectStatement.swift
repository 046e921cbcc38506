import GRDB
import GRDBSQLite

/// Runs a prepared GRDB statement with its parameters bound through SQLite's C API. For the
/// statements every placement runs: GRDB's `StatementArguments` box each value and check them
/// against the statement, which cost about as much per placement as SQLite's own work on the
/// two rows (perf, issue 16). Only the writer's connection uses it, on the writer's thread.
struct DirectStatement {
    let statement: Statement

    init(_ db: Database, sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
    }

    /// Binds with `bind`, steps once, resets. Returns true when the statement produced a row.
    /// Throws SQLite's error as a `DatabaseError`.
    @discardableResult
    func step(_ db: Database, _ bind: (inout Parameters) -> Void) throws -> Bool {
        let s = statement.sqliteStatement
        var parameters = Parameters(statement: s)
        bind(&parameters)
        let code = sqlite3_step(s)
        sqlite3_reset(s)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: statement.sql)
        }
    }

    /// The statement's parameters, bound in order from the first.
    struct Parameters {
        let statement: SQLiteStatement
        var index: Int32 = 1

        mutating func bind(_ value: Int64) {
            sqlite3_bind_int64(statement, index, value)
            index += 1
        }

        mutating func bind(_ value: Int) { bind(Int64(value)) }

        mutating func bind(_ value: Double) {
            sqlite3_bind_double(statement, index, value)
            index += 1
        }

        mutating func bind(_ value: String?) {
            if let value {
                var value = value
                value.withUTF8 { text in
                    // SQLITE_TRANSIENT: SQLite copies the text before this returns.
                    _ = sqlite3_bind_text(statement, index, text.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                                          Int32(text.count), SQLITE_TRANSIENT)
                }
            } else {
                sqlite3_bind_null(statement, index)
            }
            index += 1
        }
    }
}

private let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
