/// Appends JSON text to a byte array: small, allocation-light, and with a stable key order.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// A value that is JSON text already (an array or object written elsewhere).
    public mutating func rawValue(_ json: String) { raw(json); needsComma = true }

    public mutating func beginObject() { bytes.append(UInt8(ascii: "{")); needsComma = false }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    /// Starts a member `"key":` of the current object.
    public mutating func key(_ k: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        string(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// Starts the next element of the current array.
    public mutating func element() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = false
    }

    public mutating func value(_ s: String?) {
        if let s { string(s) } else { raw("null") }
        needsComma = true
    }

    public mutating func value(_ i: Int) { value(Int64(i)) }
    public mutating func value(_ i: Int64) { integer(i); needsComma = true }

    /// A time as RFC 3339 text, or null.
    public mutating func value(_ t: Timestamp?) {
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
    public mutating func value(_ b: Bool) { raw(b ? "true" : "false"); needsComma = true }
    public mutating func value(_ d: Double) { number(d); needsComma = true }

    public mutating func number(_ d: Double) {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 {
            integer(Int64(d))
        } else if d.isFinite {
            raw(String(d))
        } else {
            raw("null")
        }
        needsComma = true
    }

    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            // Most strings need no escape: copy them whole (scanned as bytes in memory; the
            // String.UTF8View's iterator cost a placement about a microsecond).
            if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                bytes.append(contentsOf: utf8)
                return
            }
            for b in utf8 {
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
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }
}

