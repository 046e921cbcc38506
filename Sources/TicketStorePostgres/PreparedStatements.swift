import PostgresNIO
import TicketCore

/// The hottest statements as prepared statements: parsed and planned once per connection
/// (postgres-nio keeps them by name), where the rest are parsed anew each time (measured in the
/// server's log: 0.4–0.6 ms of parsing and planning for a one-row read by ticket, against
/// 0.03 ms to run it). A poll's read, the look-up before a transition, the re-read of an order
/// another node changed and a placement are most of what a node asks of PostgreSQL.
///
/// Only statements whose best plan does not depend on the table's size are prepared: after five
/// runs PostgreSQL may keep a generic plan, chosen with the statistics of that moment. The
/// kitchen's claim and ready statements (one per batch) were prepared for a while: the lifecycle
/// then measured 1,446–5,232 orders/s from run to run, against 3,253–3,733 planned each time.
/// A prepared statement whose rows are whole orders (`OrderRecord.columns`), with its values
/// bound when it is made.
protocol OrderRowsStatement: PostgresPreparedStatement where Row == Order {
    var binds: PostgresBindings { get }
}

extension OrderRowsStatement {
    func makeBindings() -> PostgresBindings { binds }

    func decodeRow(_ row: PostgresRow) throws -> Order { try OrderRecord.order(row) }

    static func bound<T: PostgresNonThrowingEncodable>(_ value: T) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }
}

struct TicketByTicket: OrderRowsStatement {
    static let sql = PostgresSQL.orderByTicket
    let binds: PostgresBindings
    init(ticket: String) { binds = Self.bound(ticket) }
}

struct OrderByID: OrderRowsStatement {
    static let sql = PostgresSQL.orderByID
    let binds: PostgresBindings
    init(id: Int64) { binds = Self.bound(id) }
}

/// The orders another node's notification named that someone here waits on.
struct OrdersByID: OrderRowsStatement {
    static let sql = PostgresSQL.ordersByID
    let binds: PostgresBindings
    init(ids: [Int64]) { binds = Self.bound(ids) }
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

/// The transition into a final state from queued or ready (a customer's cancel, a pickup, an
/// expiry, an operator's cancel of a queued or ready order): one text for all of them
/// (`PostgresOrderStore.transitionStatement`), prepared; a transition whose text differs runs
/// unprepared.
struct FinishOrder: OrderRowsStatement {
    static let sql = finishText(.row(id: 0, version: 1))
    let binds: PostgresBindings
}

/// A customer's cancel or pickup straight at the ticket's row (`PostgresOrderStore.finish`):
/// one text for both, prepared.
struct FinishByTicket: OrderRowsStatement {
    static let sql = finishText(.ticket(""))
    let binds: PostgresBindings
}

/// The text of a transition into a final state without a lease (a cancel of a queued order
/// stands for all of them) at `target`.
private func finishText(_ target: PostgresOrderStore.TransitionTarget) -> String {
    guard case .success(let finish) = Lifecycle.apply(.cancel, to: .queued) else { return "" }
    return PostgresOrderStore.transitionStatement(
        finish, target: target, status: .queued, leaseToken: nil, leaseMustHold: false, detail: "",
        inputs: Transition.Inputs(), timing: PostgresOrderStore.Timing(), now: nil, nodeID: "").sql
}
