import Foundation
import PostgresNIO
import TicketCore

/// Decoding rows of `orders` and `order_events` into domain values. Times arrive as integer
/// milliseconds (`ticketd_ms`), exact both ways.
enum OrderRecord {
    /// The columns every order query selects, in the order `order(_:)` decodes them. Bare column
    /// names: it also selects from a CTE of `RETURNING *`.
    static let columns = """
        id, ticket, number, status, priority, items::text, customer, note, version, attempts, max_attempts, \
        last_error, lease_owner, ticketd_ms(lease_expires_at), cook_seconds, ticketd_ms(available_at), \
        ticketd_ms(created_at), ticketd_ms(cooking_at), ticketd_ms(ready_at), ticketd_ms(finished_at)
        """

    struct Corrupt: Error, CustomStringConvertible {
        var description: String
    }

    /// Decodes a row selected with `columns`.
    static func order(_ row: PostgresRow) throws -> Order {
        // By position, so that a query may select more columns after these.
        let r = row.makeRandomAccess()
        let id = try r[0].decode(Int64.self)
        let ticket = try r[1].decode(String.self)
        let number = try r[2].decode(Int.self)
        let statusText = try r[3].decode(String.self)
        let priorityText = try r[4].decode(String.self)
        let itemsText = try r[5].decode(String.self)
        let customer = try r[6].decode(String?.self)
        let note = try r[7].decode(String?.self)
        let version = try r[8].decode(Int.self)
        let attempts = try r[9].decode(Int.self)
        let maxAttempts = try r[10].decode(Int.self)
        let lastError = try r[11].decode(String?.self)
        let leaseOwner = try r[12].decode(String?.self)
        let leaseExpires = try r[13].decode(Int64?.self)
        let cookSeconds = try r[14].decode(Double.self)
        let available = try r[15].decode(Int64.self)
        let created = try r[16].decode(Int64.self)
        let cooking = try r[17].decode(Int64?.self)
        let ready = try r[18].decode(Int64?.self)
        let finished = try r[19].decode(Int64?.self)
        guard let status = OrderStatus(rawValue: statusText) else {
            throw Corrupt(description: "order \(id) has the unknown status \(statusText)")
        }
        return Order(
            id: id, ticket: ticket, number: number, status: status,
            priority: OrderPriority(rawValue: priorityText) ?? .normal,
            items: decodeItems(itemsText), customer: customer, note: note, version: version, attempts: attempts,
            maxAttempts: maxAttempts, lastError: lastError, leaseOwner: leaseOwner,
            leaseExpiresAt: leaseExpires.map(Timestamp.init(milliseconds:)), cookSeconds: cookSeconds,
            availableAt: Timestamp(milliseconds: available), createdAt: Timestamp(milliseconds: created),
            cookingAt: cooking.map(Timestamp.init(milliseconds:)), readyAt: ready.map(Timestamp.init(milliseconds:)),
            finishedAt: finished.map(Timestamp.init(milliseconds:)))
    }

    static let eventColumns = "from_status, to_status, ticketd_ms(at), detail"

    static func event(_ row: PostgresRow) throws -> OrderEventRecord {
        let (from, to, at, detail) = try row.decode((String?, String, Int64, String?).self)
        return OrderEventRecord(from: from.flatMap(OrderStatus.init(rawValue:)), to: OrderStatus(rawValue: to) ?? .queued,
                                at: Timestamp(milliseconds: at), detail: detail)
    }

    /// What `OrderItemsJSON.encodeItems` wrote, fast; anything else (a row written by hand)
    /// through JSONDecoder.
    static func decodeItems(_ text: String) -> [OrderLine] {
        if let fast = OrderItemsJSON.decodeCompactItems(text) { return fast }
        return (try? JSONDecoder().decode([OrderLine].self, from: Data(text.utf8))) ?? []
    }
}

/// A statement built piece by piece with its binds: `bind(_:)` appends a value and returns its
/// placeholder (`$n`).
struct SQLBuilder {
    var sql = ""
    var binds = PostgresBindings()

    init(_ sql: String = "") { self.sql = sql }

    mutating func bind<T: PostgresNonThrowingEncodable>(_ value: T) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func bind<T: PostgresNonThrowingEncodable>(_ value: T?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    mutating func append(_ text: String) { sql += text }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
