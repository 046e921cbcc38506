import TicketCore

/// A parsed JSON value that keeps booleans apart from numbers (JSONSerialization does not).
/// Request bodies are decoded into it and validated by hand, so every error names its field.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses `bytes` (strict RFC 8259, see `JSONParser`); nil when they are not JSON.
    static func parse(_ bytes: some Sequence<UInt8>) -> JSONValue? {
        let parsed = bytes.withContiguousStorageIfAvailable { JSONParser.parse(UnsafeRawBufferPointer($0)) }
        if let parsed { return parsed }
        let copy = Array(bytes)
        return copy.withUnsafeBytes { JSONParser.parse($0) }
    }

    /// Compact JSON with object keys sorted: the same text for the same value, however the
    /// client spaced or ordered it (used to compare idempotent retries).
    var canonical: String {
        var w = JSONWriter()
        write(to: &w)
        return w.string
    }

    private func write(to w: inout JSONWriter) {
        switch self {
        case .null: w.raw("null")
        case .bool(let b): w.raw(b ? "true" : "false")
        case .number(let d): w.number(d)
        case .string(let s): w.string(s)
        case .array(let a):
            w.raw("[")
            for (i, v) in a.enumerated() {
                if i > 0 { w.raw(",") }
                v.write(to: &w)
            }
            w.raw("]")
        case .object(let o):
            w.raw("{")
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { w.raw(",") }
                w.string(key)
                w.raw(":")
                o[key]?.write(to: &w)
            }
            w.raw("}")
        }
    }
}

/// A 128-bit FNV-1a digest as 32 hex characters: identifies a request body for Idempotency-Key
/// comparisons (not a security boundary: only the key's owner can collide with themselves).
func fnv1a128Hex(_ text: String) -> String {
    var h1: UInt64 = 0xcbf2_9ce4_8422_2325
    var h2: UInt64 = 0x6c62_272e_07bb_0142
    for b in text.utf8 {
        h1 = (h1 ^ UInt64(b)) &* 0x0000_0100_0000_01b3
        h2 = (h2 ^ UInt64(b)) &* 0x0000_0100_0000_01b3 &+ h1
    }
    func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
    return hex(h1) + hex(h2)
}
