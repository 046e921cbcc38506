import Foundation
import GRDB
import TicketCore
import TicketStore

/// Decoding rows of `orders` and `order_events` into domain values.
enum OrderRow {
    /// The columns every order query selects, in the order `order(_:)` decodes them.
    static let columns = """
        id, ticket, number, status, priority, items, customer, note, version, attempts, max_attempts, \
        last_error, lease_owner, lease_expires_at, cook_seconds, available_at, created_at, cooking_at, \
        ready_at, finished_at
        """

    /// Decodes a row selected with `columns`, by position (a lookup by name scans the columns
    /// with a case-insensitive comparison each time: that was most of the cost of a read).
    static func order(_ row: Row) throws -> Order {
        let statusText: String = row[3]
        let priorityText: String = row[4]
        guard let status = OrderStatus(rawValue: statusText) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unknown status \(statusText)")
        }
        let itemsText: String = row[5]
        return Order(
            id: row[0],
            ticket: row[1],
            number: row[2],
            status: status,
            priority: OrderPriority(rawValue: priorityText) ?? .normal,
            items: decodeItems(itemsText),
            customer: row[6],
            note: row[7],
            version: row[8],
            attempts: row[9],
            maxAttempts: row[10],
            lastError: row[11],
            leaseOwner: row[12],
            leaseExpiresAt: time(row[13]),
            cookSeconds: row[14],
            availableAt: time(row[15]) ?? Timestamp(milliseconds: 0),
            createdAt: time(row[16]) ?? Timestamp(milliseconds: 0),
            cookingAt: time(row[17]),
            readyAt: time(row[18]),
            finishedAt: time(row[19])
        )
    }

    static func time(_ text: String?) -> Timestamp? {
        text.flatMap { Timestamp(rfc3339: $0) }
    }

    static func event(_ row: Row) -> OrderEventRecord {
        let from: String? = row["from_status"]
        let to: String = row["to_status"]
        return OrderEventRecord(
            from: from.flatMap(OrderStatus.init(rawValue:)),
            to: OrderStatus(rawValue: to) ?? .queued,
            at: time(row["at"]) ?? Timestamp(milliseconds: 0),
            detail: row["detail"]
        )
    }

    /// Items are stored as compact JSON (`OrderItemsJSON`, shared with the PostgreSQL store).
    static func encodeItems(_ items: [OrderLine]) -> String { OrderItemsJSON.encodeItems(items) }

    /// Reads what `encodeItems` wrote without Foundation's JSON decoder (it is on every read
    /// path); anything else (say, a row an operator wrote by hand) goes to JSONDecoder.
    static func decodeItems(_ text: String) -> [OrderLine] {
        if let fast = decodeCompactItems(text) { return fast }
        return (try? JSONDecoder().decode([OrderLine].self, from: Data(text.utf8))) ?? []
    }

    static func decodeCompactItems(_ text: String) -> [OrderLine]? { OrderItemsJSON.decodeCompactItems(text) }
}
