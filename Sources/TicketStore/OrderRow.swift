import Foundation
import GRDB
import TicketCore

/// Decoding rows of `orders` and `order_events` into domain values.
enum OrderRow {
    /// The columns every order query selects (also what `RETURNING` gives back).
    static let columns = """
        id, ticket, number, status, priority, items, customer, note, version, attempts, max_attempts, \
        last_error, lease_owner, lease_expires_at, cook_seconds, available_at, created_at, cooking_at, \
        ready_at, finished_at
        """

    static func order(_ row: Row) throws -> Order {
        let statusText: String = row["status"]
        let priorityText: String = row["priority"]
        guard let status = OrderStatus(rawValue: statusText) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unknown status \(statusText)")
        }
        let itemsText: String = row["items"]
        return Order(
            id: row["id"],
            ticket: row["ticket"],
            number: row["number"],
            status: status,
            priority: OrderPriority(rawValue: priorityText) ?? .normal,
            items: decodeItems(itemsText),
            customer: row["customer"],
            note: row["note"],
            version: row["version"],
            attempts: row["attempts"],
            maxAttempts: row["max_attempts"],
            lastError: row["last_error"],
            leaseOwner: row["lease_owner"],
            leaseExpiresAt: time(row["lease_expires_at"]),
            cookSeconds: row["cook_seconds"],
            availableAt: time(row["available_at"]) ?? Timestamp(milliseconds: 0),
            createdAt: time(row["created_at"]) ?? Timestamp(milliseconds: 0),
            cookingAt: time(row["cooking_at"]),
            readyAt: time(row["ready_at"]),
            finishedAt: time(row["finished_at"])
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

    /// Items are stored as compact JSON written by `encodeItems`.
    static func encodeItems(_ items: [OrderLine]) -> String {
        var out = "["
        for (i, line) in items.enumerated() {
            if i > 0 { out += "," }
            out += "{\"item\":" + jsonString(line.item) + ",\"quantity\":" + String(line.quantity) + "}"
        }
        return out + "]"
    }

    static func decodeItems(_ text: String) -> [OrderLine] {
        (try? JSONDecoder().decode([OrderLine].self, from: Data(text.utf8))) ?? []
    }

    /// A JSON string literal for `s`.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
