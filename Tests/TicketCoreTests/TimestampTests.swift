import Foundation
import Testing
import TicketCore
import TicketTestSupport

@Suite("Timestamp", .timeLimit(.minutes(1)))
struct TimestampTests {
    /// Years 0000 … 9999: the range the fixed four-digit format can hold.
    static let earliest: Int64 = -62_167_219_200_000   // 0000-01-01T00:00:00.000Z
    static let latest: Int64 = 253_402_300_799_999     // 9999-12-31T23:59:59.999Z

    static func foundationFormat(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    @Test("known instants format as RFC 3339 UTC with milliseconds")
    func knownInstants() {
        let cases: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (999, "1970-01-01T00:00:00.999Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-86_400_000, "1969-12-31T00:00:00.000Z"),
            (-86_400_001, "1969-12-30T23:59:59.999Z"),
            // 1764056400 s = 20417 days (2025-11-25) + 7 h 40 min.
            (1_764_056_400_123, "2025-11-25T07:40:00.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),       // leap day of a 400-year leap year
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),     // 2100 is not a leap year
            (Self.earliest, "0000-01-01T00:00:00.000Z"),
            (Self.latest, "9999-12-31T23:59:59.999Z"),
        ]
        for (ms, text) in cases {
            #expect(Timestamp(milliseconds: ms).rfc3339 == text, "\(ms)")
            #expect(Timestamp(milliseconds: ms).description == text)
            #expect(Timestamp(rfc3339: text)?.milliseconds == ms, "\(text)")
        }
    }

    @Test("agrees with Foundation's ISO 8601 formatter")
    func foundationCrossCheck() {
        for ms: Int64 in [0, 1, -1, 1_764_056_400_123, 951_782_400_000, -86_400_001, 1_000_000_000_000, Self.latest] {
            #expect(Timestamp(milliseconds: ms).rfc3339 == Self.foundationFormat(ms), "\(ms)")
        }
        // Random whole seconds from 1600 on (Foundation's calendar is Julian before 1582),
        // with the milliseconds checked separately (binary floating point would blur them).
        var rng = SeededGenerator(seed: 2026)
        let from: Int64 = -11_676_096_000   // 1600-01-01 in seconds
        for _ in 0..<2000 {
            let seconds = Int64.random(in: from...(Self.latest / 1000), using: &rng)
            let fraction = Int64.random(in: 0...999, using: &rng)
            let text = Timestamp(milliseconds: seconds * 1000 + fraction).rfc3339
            let reference = Self.foundationFormat(seconds * 1000)
            #expect(text.prefix(20) == reference.prefix(20), "\(seconds)")
            #expect(text.dropFirst(20) == String(format: "%03dZ", fraction)[...])
        }
    }

    @Test("formats and parses back, for random instants before and after 1970")
    func roundTrip() {
        var rng = SeededGenerator(seed: 1)
        var before1970 = 0
        for _ in 0..<20_000 {
            let ms = Int64.random(in: Self.earliest...Self.latest, using: &rng)
            if ms < 0 { before1970 += 1 }
            let text = Timestamp(milliseconds: ms).rfc3339
            #expect(text.utf8.count == 24)
            #expect(Timestamp(rfc3339: text)?.milliseconds == ms, "\(ms) -> \(text)")
        }
        #expect(before1970 > 1000)
        // Around the epoch and day boundaries, densely.
        for ms in Int64(-200_000)...Int64(200_000) where ms % 7 == 0 {
            #expect(Timestamp(rfc3339: Timestamp(milliseconds: ms).rfc3339)?.milliseconds == ms)
        }
    }

    @Test("text order is time order (the store compares times as text)")
    func textOrderIsTimeOrder() {
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<5000 {
            let a = Int64.random(in: Self.earliest...Self.latest, using: &rng)
            let b = Int64.random(in: -1000...1000, using: &rng) + a
            guard b >= Self.earliest, b <= Self.latest else { continue }
            let ta = Timestamp(milliseconds: a), tb = Timestamp(milliseconds: b)
            #expect((ta.rfc3339 < tb.rfc3339) == (ta < tb), "\(a) vs \(b)")
        }
    }

    @Test("the short form without milliseconds parses")
    func shortForm() {
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:01Z")?.milliseconds == 1000)
        #expect(Timestamp(rfc3339: "2025-11-25T07:40:00Z")?.milliseconds == 1_764_056_400_000)
    }

    @Test("malformed strings are refused", arguments: [
        "",
        "1970-01-01",
        "1970-01-01T00:00:00.000",          // no Z
        "1970-01-01T00:00:00.000z",
        "1970-01-01 00:00:00.000Z",         // space instead of T
        "1970-01-01T00:00:00,000Z",         // comma
        "1970-01-01T00:00:00.00aZ",
        "1970-01-01T00:00:00.0000Z",        // four fraction digits
        "1970-01-01T00:00:00.00Z",
        "1970-01-01T00:00:00.000+00:00",
        "197O-01-01T00:00:00.000Z",         // letter O
        "1970/01/01T00:00:00.000Z",
        "+970-01-01T00:00:00.000Z",
        "-970-01-01T00:00:00.000Z",
        "1970-00-01T00:00:00.000Z",         // month 0
        "1970-13-01T00:00:00.000Z",         // month 13
        "1970-01-00T00:00:00.000Z",         // day 0
        "1970-01-32T00:00:00.000Z",         // day 32
        "2026-02-30T00:00:00.000Z",         // no such day
        "2025-02-29T00:00:00.000Z",         // not a leap year
        "2100-02-29T00:00:00.000Z",         // not a leap year either
        "2026-04-31T00:00:00.000Z",
        "1970-01-01T24:00:00.000Z",
        "1970-01-01T00:60:00.000Z",
        "1970-01-01T00:00:61.000Z",
        "１970-01-01T00:00:00.000Z",        // full-width digit
    ])
    func malformed(text: String) {
        #expect(Timestamp(rfc3339: text) == nil, "\(text)")
    }

    @Test("real leap days parse")
    func leapDays() {
        #expect(Timestamp(rfc3339: "2024-02-29T12:00:00.000Z") != nil)
        #expect(Timestamp(rfc3339: "2000-02-29T00:00:00.000Z")?.milliseconds == 951_782_400_000)
        #expect(Timestamp(rfc3339: "1600-02-29T00:00:00.000Z") != nil)
    }

    @Test("arithmetic: adding seconds rounds to the millisecond; seconds(since:)")
    func arithmetic() {
        let t = Timestamp(milliseconds: 1_000)
        #expect(t.adding(seconds: 1.5).milliseconds == 2_500)
        #expect(t.adding(seconds: -2).milliseconds == -1_000)
        #expect(t.adding(seconds: 0.0004).milliseconds == 1_000)
        #expect(t.adding(seconds: 0.0006).milliseconds == 1_001)
        #expect(Timestamp(milliseconds: 4_250).seconds(since: t) == 3.25)
        #expect(t.seconds(since: Timestamp(milliseconds: 4_250)) == -3.25)
        #expect(Timestamp(milliseconds: -5) < Timestamp(milliseconds: 3))
    }
}
