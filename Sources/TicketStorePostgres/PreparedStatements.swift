import PostgresNIO
import TicketCore

/// The hottest statements as prepared statements: parsed and planned once per connection
/// (postgres-nio keeps them by name), where the rest are parsed anew each time. A poll's read
/// and a placement are most of what a node asks of PostgreSQL.
struct TicketByTicket: PostgresPreparedStatement {
    typealias Row = Order
    static let sql = PostgresSQL.orderByTicket
    let ticket: String

    func makeBindings() -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(ticket)
        return binds
    }

    func decodeRow(_ row: PostgresRow) throws -> Order { try OrderRecord.order(row) }
}

struct PlaceOrder: PostgresPreparedStatement {
    typealias Row = (Int64, Int, Int64)
    static let sql = PostgresSQL.place
    let binds: PostgresBindings

    func makeBindings() -> PostgresBindings { binds }

    func decodeRow(_ row: PostgresRow) throws -> (Int64, Int, Int64) { try row.decode((Int64, Int, Int64).self) }
}

struct PlaceOrders: PostgresPreparedStatement {
    typealias Row = (Int64, String, Int, Int64)
    static let sql = PostgresSQL.placeMany
    let binds: PostgresBindings

    func makeBindings() -> PostgresBindings { binds }

    func decodeRow(_ row: PostgresRow) throws -> (Int64, String, Int, Int64) {
        try row.decode((Int64, String, Int, Int64).self)
    }
}

extension PostgresConnection {
    /// Every row of a prepared statement.
    func all<S: PostgresPreparedStatement>(_ statement: S, logger: Logger) async throws -> [S.Row] {
        var out: [S.Row] = []
        for try await row in try await execute(statement, logger: logger) { out.append(row) }
        return out
    }
}
