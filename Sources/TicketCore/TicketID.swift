#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The private ticket id: a 6-character time prefix, then 144 random bits from the system's
/// secure generator as 24 URL-safe base64 characters (30 in all). It says nothing about the
/// order's id or number; the prefix says when it was placed, which its holder knows anyway.
///
/// Why the prefix: the `orders.ticket` UNIQUE index is written by every placement. With purely
/// random ids each insert landed on a random leaf page, so every order of a group commit dirtied
/// a page of its own: about 4 KiB of WAL per order, most of what a commit wrote and synced. With
/// a prefix that grows with time (milliseconds, in an alphabet whose ASCII order is its numeric
/// order) the inserts of a batch land on the index's last pages.
public enum TicketID {
    public static let byteCount = 18
    /// Random characters (also the whole length of lease tokens and of tickets before the prefix).
    public static let randomLength = 24
    public static let prefixLength = 6
    public static let length = prefixLength + randomLength

    /// A fresh ticket id for an order placed at `time`.
    public static func generateTicket(at time: Timestamp) -> String {
        var out = [UInt8]()
        out.reserveCapacity(length)
        // 36 bits of milliseconds (they wrap every 795 days; locality is all they are for).
        let ms = UInt64(truncatingIfNeeded: time.milliseconds) & (1 << 36 - 1)
        for shift in stride(from: 30, through: 0, by: -6) {
            out.append(sortedAlphabet[Int(ms >> UInt64(shift) & 63)])
        }
        appendBase64URL(randomBytes(), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// 144 random bits as 24 characters: lease tokens (and the random part of a ticket id).
    public static func generate() -> String {
        base64URL(randomBytes())
    }

    /// 18 bytes from the system's secure generator: one getrandom(2) call on Linux (three 64-bit
    /// draws of `SystemRandomNumberGenerator` were three calls, a measurable share of a placement).
    static func randomBytes() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: byteCount)
        #if os(Linux)
        let filled = bytes.withUnsafeMutableBytes { buffer -> Bool in
            // Up to 256 bytes are never cut short once the generator is initialised; a failure
            // falls through to the Swift generator below.
            linuxGetrandom(buffer.baseAddress, byteCount, 0) == byteCount
        }
        if filled { return bytes }
        #endif
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        return bytes
    }

    /// True if `text` has the shape of a ticket id (used to answer 404 without a query): 30
    /// characters, or 24 for tickets placed before the prefix (and lease tokens).
    public static func isWellFormed(_ text: Substring) -> Bool {
        let n = text.utf8.count
        return (n == length || n == randomLength) && text.utf8.allSatisfy { isURLSafe($0) }
    }

    static func isURLSafe(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"): return true
        default: return false
        }
    }

    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// The same 64 characters in ASCII order, so that text order is numeric order.
    static let sortedAlphabet: [UInt8] = Array("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz".utf8)

    static func base64URL(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count / 3 * 4)
        appendBase64URL(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func appendBase64URL(_ bytes: [UInt8], to out: inout [UInt8]) {
        precondition(bytes.count % 3 == 0)
        var i = 0
        while i < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
    }
}

#if os(Linux)
/// glibc's getrandom(2) wrapper (<sys/random.h>, which the Glibc module does not export):
/// `ssize_t getrandom(void *buf, size_t buflen, unsigned int flags)`.
@_silgen_name("getrandom")
private func linuxGetrandom(_ buffer: UnsafeMutableRawPointer?, _ count: Int, _ flags: UInt32) -> Int
#endif
