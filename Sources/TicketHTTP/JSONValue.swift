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

/// Appends JSON text to a byte array: small, allocation-light, and with a stable key order.
struct JSONWriter {
    var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func beginObject() { bytes.append(UInt8(ascii: "{")); needsComma = false }
    mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    mutating func beginArray() { bytes.append(UInt8(ascii: "[")); needsComma = false }
    mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    /// Starts a member `"key":` of the current object.
    mutating func key(_ k: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        string(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// Starts the next element of the current array.
    mutating func element() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = false
    }

    mutating func value(_ s: String?) {
        if let s { string(s) } else { raw("null") }
        needsComma = true
    }

    mutating func value(_ i: Int) { value(Int64(i)) }
    mutating func value(_ i: Int64) { integer(i); needsComma = true }

    /// A time as RFC 3339 text, or null.
    mutating func value(_ t: Timestamp?) {
        if let t {
            bytes.append(UInt8(ascii: "\""))
            t.appendRFC3339(to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        } else {
            raw("null")
        }
        needsComma = true
    }

    /// Decimal digits without going through a String.
    private mutating func integer(_ i: Int64) {
        if i == 0 { bytes.append(48); return }
        var v = i.magnitude
        if i < 0 { bytes.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 { d[n] = UInt8(48 + v % 10); v /= 10; n += 1 }
            for k in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[k]) }
        }
    }
    mutating func value(_ b: Bool) { raw(b ? "true" : "false"); needsComma = true }
    mutating func value(_ d: Double) { number(d); needsComma = true }

    mutating func number(_ d: Double) {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 {
            integer(Int64(d))
        } else if d.isFinite {
            raw(String(d))
        } else {
            raw("null")
        }
        needsComma = true
    }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: s.utf8)
            bytes.append(UInt8(ascii: "\""))
            needsComma = true
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, 110])
            case 0x0D: bytes.append(contentsOf: [92, 114])
            case 0x09: bytes.append(contentsOf: [92, 116])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, 117, 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
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
