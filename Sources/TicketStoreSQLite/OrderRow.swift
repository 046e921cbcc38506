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

    /// Items are stored as compact JSON written by `encodeItems`.
    static func encodeItems(_ items: [OrderLine]) -> String {
        var out = "["
        for (i, line) in items.enumerated() {
            if i > 0 { out += "," }
            out += "{\"item\":" + jsonString(line.item) + ",\"quantity\":" + String(line.quantity) + "}"
        }
        return out + "]"
    }

    /// Reads what `encodeItems` wrote without Foundation's JSON decoder (it is on every read
    /// path); anything else (say, a row an operator wrote by hand) goes to JSONDecoder.
    static func decodeItems(_ text: String) -> [OrderLine] {
        if let fast = decodeCompactItems(text) { return fast }
        return (try? JSONDecoder().decode([OrderLine].self, from: Data(text.utf8))) ?? []
    }

    /// Parses exactly `[{"item":"…","quantity":N},…]` with simple escapes; nil otherwise.
    static func decodeCompactItems(_ text: String) -> [OrderLine]? {
        let u = Array(text.utf8)
        var i = 0
        func expect(_ literal: StaticString) -> Bool {
            let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
            guard i + bytes.count <= u.count else { return false }
            for b in bytes { if u[i] != b { return false }; i += 1 }
            return true
        }
        guard expect("[") else { return nil }
        var lines: [OrderLine] = []
        if i < u.count, u[i] == UInt8(ascii: "]") { return i + 1 == u.count ? [] : nil }
        while true {
            guard expect("{\"item\":\"") else { return nil }
            var name: [UInt8] = []
            while i < u.count, u[i] != UInt8(ascii: "\"") {
                if u[i] == UInt8(ascii: "\\") { return nil }  // escapes: leave to JSONDecoder
                name.append(u[i]); i += 1
            }
            guard expect("\",\"quantity\":") else { return nil }
            var quantity = 0
            var digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57, digits < 9 {
                quantity = quantity * 10 + Int(u[i] - 48); i += 1; digits += 1
            }
            guard digits > 0, expect("}") else { return nil }
            lines.append(OrderLine(item: String(decoding: name, as: UTF8.self), quantity: quantity))
            if i < u.count, u[i] == UInt8(ascii: ",") { i += 1; continue }
            guard expect("]"), i == u.count else { return nil }
            return lines
        }
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
