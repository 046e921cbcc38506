/// A point in time as integer milliseconds since the Unix epoch, formatted as RFC 3339 UTC with
/// milliseconds (`2026-11-25T07:31:02.120Z`) without Foundation: fixed width, so text order is
/// time order, which the store relies on for its comparisons.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.milliseconds < b.milliseconds }

    public func adding(seconds: Double) -> Timestamp {
        Timestamp(milliseconds: milliseconds + Int64((seconds * 1000).rounded()))
    }

    public func seconds(since other: Timestamp) -> Double {
        Double(milliseconds - other.milliseconds) / 1000
    }

    public var description: String { rfc3339 }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 0000–9999).
    public var rfc3339: String {
        var out = [UInt8]()
        out.reserveCapacity(24)
        appendRFC3339(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the 24 bytes of `rfc3339` to `out` (JSON bodies write times without a String).
    public func appendRFC3339(to out: inout [UInt8]) {
        var ms = milliseconds
        var days = ms / 86_400_000
        ms -= days * 86_400_000
        if ms < 0 { ms += 86_400_000; days -= 1 }
        let (y, m, d) = Self.civil(fromDays: days)
        let h = ms / 3_600_000, mi = ms / 60_000 % 60, s = ms / 1000 % 60, f = ms % 1000
        @inline(__always) func put2(_ v: Int64) {
            out.append(UInt8(48 + v / 10 % 10)); out.append(UInt8(48 + v % 10))
        }
        let year = min(max(y, 0), 9999)
        out.append(UInt8(48 + year / 1000)); out.append(UInt8(48 + year / 100 % 10)); put2(year % 100)
        out.append(45); put2(m); out.append(45); put2(d); out.append(84)
        put2(h); out.append(58); put2(mi); out.append(58); put2(s); out.append(46)
        out.append(UInt8(48 + f / 100)); put2(f % 100); out.append(90)
    }

    /// Parses the fixed format written by `rfc3339` (and `Z` without fraction). Nil otherwise.
    public init?(rfc3339 text: String) {
        let u = Array(text.utf8)
        guard u.count == 24 || u.count == 20, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58,
              u.last == 90 else { return nil }
        func num(_ r: Range<Int>) -> Int64? {
            var v: Int64 = 0
            for i in r { guard u[i] >= 48, u[i] <= 57 else { return nil }; v = v * 10 + Int64(u[i] - 48) }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
              let mi = num(14..<16), let s = num(17..<19), (1...12).contains(mo), (1...31).contains(d),
              h < 24, mi < 60, s < 61 else { return nil }
        var f: Int64 = 0
        if u.count == 24 {
            guard u[19] == 46, let frac = num(20..<23) else { return nil }
            f = frac
        }
        let days = Self.days(fromCivil: y, mo, d)
        // A day the month does not have (2026-02-30) is malformed, not the next month's day.
        guard Self.civil(fromDays: days) == (y, mo, d) else { return nil }
        self.milliseconds = ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + f
    }

    // Howard Hinnant's civil-from-days algorithms.
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
