#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The private ticket id: 144 random bits from the system's secure generator, as 24 URL-safe
/// base64 characters. It says nothing about the order's id or number.
public enum TicketID {
    public static let byteCount = 18
    public static let length = 24

    /// A fresh ticket id. `SystemRandomNumberGenerator` reads getrandom(2) on Linux.
    public static func generate() -> String {
        // Three 64-bit draws (one getrandom each), 18 of their 24 bytes used.
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        for _ in 0..<3 {
            let word: UInt64 = rng.next()
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return base64URL(Array(bytes.prefix(byteCount)))
    }

    /// True if `text` has the shape of a ticket id (used to answer 404 without a query).
    public static func isWellFormed(_ text: Substring) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { alphabet.contains($0) }
    }

    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func base64URL(_ bytes: [UInt8]) -> String {
        precondition(bytes.count % 3 == 0)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count / 3 * 4)
        var i = 0
        while i < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
