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

    /// Resets, binds with `bind`, steps once, resets. Returns true when the statement produced a
    /// row. Throws SQLite's error as a `DatabaseError`, a refused binding included.
    ///
    /// The statement is GRDB's cached one, shared with GRDB's own uses of the same SQL. SQLite
    /// refuses bindings to a statement left stepped and not reset (SQLITE_MISUSE) and would run it
    /// with what was bound before (scripts/restarts saw placements fail with a NULL order id). So
    /// it is reset first, and every binding's result checked.
    @discardableResult
    func step(_ db: Database, _ bind: (inout Parameters) -> Void) throws -> Bool {
        let s = statement.sqliteStatement
        sqlite3_reset(s)
        var parameters = Parameters(statement: s)
        bind(&parameters)
        if parameters.failure != SQLITE_OK {
            throw error(db, parameters.failure, "binding parameter \(parameters.failedIndex): ")
        }
        let code = sqlite3_step(s)
        sqlite3_reset(s)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw error(db, code)
        }
    }

    /// SQLite's `code` and message as GRDB's error for this statement.
    private func error(_ db: Database, _ code: Int32, _ context: String = "") -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code),
                      message: context + String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: statement.sql)
    }

    /// The statement's parameters, bound in order from the first.
    struct Parameters {
        let statement: SQLiteStatement
        var index: Int32 = 1
        /// The first binding SQLite refused, if any.
        var failure: Int32 = SQLITE_OK
        var failedIndex: Int32 = 0

        private mutating func check(_ code: Int32) {
            if code != SQLITE_OK && failure == SQLITE_OK {
                failure = code
                failedIndex = index
            }
            index += 1
        }

        mutating func bind(_ value: Int64) {
            check(sqlite3_bind_int64(statement, index, value))
        }

        mutating func bind(_ value: Int) { bind(Int64(value)) }

        mutating func bind(_ value: Double) {
            check(sqlite3_bind_double(statement, index, value))
        }

        mutating func bind(_ value: String?) {
            guard let value else {
                check(sqlite3_bind_null(statement, index))
                return
            }
            var text = value
            let statement = statement, index = index
            let code = text.withUTF8 { utf8 -> Int32 in
                // SQLITE_TRANSIENT: SQLite copies the text before this returns. An empty string's
                // buffer may have no address, and a null pointer would bind NULL: "" instead.
                guard let base = utf8.baseAddress, !utf8.isEmpty else {
                    return sqlite3_bind_text(statement, index, "", 0, SQLITE_TRANSIENT)
                }
                return sqlite3_bind_text(statement, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                         Int32(utf8.count), SQLITE_TRANSIENT)
            }
            check(code)
        }
    }
}

private let SQLITE_TRANSIENT = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
