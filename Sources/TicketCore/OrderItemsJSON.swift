/// The order's lines as the stores keep them: compact JSON (`[{"item":"fries","quantity":2}]`),
/// readable with `sqlite3`'s and `psql`'s JSON functions. Both stores write and read it with these
/// (each falls back to Foundation's JSONDecoder for anything else, such as a row written by hand).
public enum OrderItemsJSON {
    /// Items as compact JSON, read back by `decodeItems`.
    public static func encodeItems(_ items: [OrderLine]) -> String {
        // Written as bytes (String concatenation cost the writer about 2 % of its time per
        // placement).
        var w = JSONWriter(capacity: 2 + 40 * items.count)
        write(items, to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Writes `items` as the JSON array the stores keep and the ticket body shows.
    public static func write(_ items: [OrderLine], to w: inout JSONWriter) {
        w.beginArray()
        for line in items {
            w.element()
            w.beginObject()
            w.key("item"); w.value(line.item)
            w.key("quantity"); w.value(line.quantity)
            w.endObject()
        }
        w.endArray()
    }

    /// Parses exactly `[{"item":"…","quantity":N},…]` with simple escapes; nil otherwise.
    public static func decodeCompactItems(_ text: String) -> [OrderLine]? {
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
}
