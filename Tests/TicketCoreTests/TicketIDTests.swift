import Testing
@testable import TicketCore

@Suite("TicketID", .timeLimit(.minutes(1)))
struct TicketIDTests {
    static let urlSafe = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    @Test("24 URL-safe characters, well formed")
    func shape() {
        for _ in 0..<1000 {
            let id = TicketID.generate()
            #expect(id.utf8.count == 24)
            #expect(id.utf8.allSatisfy { Self.urlSafe.contains($0) }, "\(id)")
            #expect(TicketID.isWellFormed(id[...]))
        }
        #expect(TicketID.randomLength == 24)
        #expect(TicketID.byteCount * 8 >= 128, "SPEC: at least 128 random bits")
    }

    @Test("a ticket id is a 6-character time prefix and 144 random bits; text order follows time")
    func ticketShape() {
        var previous = ""
        var randomParts = Set<Substring>()
        for step in Int64(0)..<2000 {
            // Across digit boundaries of the prefix, and with many ids in one millisecond.
            let at = Timestamp(milliseconds: 1_795_590_000_000 + step / 4 * 63)
            let id = TicketID.generateTicket(at: at)
            #expect(id.utf8.count == TicketID.length && TicketID.length == 30)
            #expect(id.utf8.allSatisfy { Self.urlSafe.contains($0) }, "\(id)")
            #expect(TicketID.isWellFormed(id[...]))
            let prefix = id.prefix(TicketID.prefixLength)
            #expect(prefix >= previous.prefix(TicketID.prefixLength), "\(id) after \(previous)")
            if step % 4 == 0, step > 0 { #expect(prefix > previous.prefix(TicketID.prefixLength)) }
            randomParts.insert(id.dropFirst(TicketID.prefixLength))
            previous = id
        }
        #expect(randomParts.count == 2000)
    }

    @Test("10,000 generated ids are distinct and every position varies")
    func distinct() {
        var seen = Set<String>()
        var perPosition = Array(repeating: Set<UInt8>(), count: 24)
        for _ in 0..<10_000 {
            let id = TicketID.generate()
            seen.insert(id)
            for (i, c) in id.utf8.enumerated() { perPosition[i].insert(c) }
        }
        #expect(seen.count == 10_000)
        // 18 random bytes fill all 24 characters (no padding): each position should see
        // (almost) all 64 symbols in 10,000 draws.
        for (i, symbols) in perPosition.enumerated() {
            #expect(symbols.count >= 60, "position \(i) saw only \(symbols.count) symbols")
        }
    }

    @Test("base64url encoding uses - and _ and maps bits correctly")
    func encoding() {
        #expect(TicketID.base64URL([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(TicketID.base64URL([0, 0, 0]) == "AAAA")
        #expect(TicketID.base64URL(Array("Man".utf8)) == "TWFu")
        #expect(TicketID.base64URL([0x14, 0xFB, 0x9C, 0x03, 0xD9, 0x7E]) == "FPucA9l-")
    }

    @Test("isWellFormed refuses anything not shaped like an id",
          arguments: [
              "",
              "AAAAAAAAAAAAAAAAAAAAAAA",          // 23
              "AAAAAAAAAAAAAAAAAAAAAAAAA",        // 25
              "AAAAAAAAAAAAAAAAAAAAAAA+",         // standard base64
              "AAAAAAAAAAAAAAAAAAAAAAA/",
              "AAAAAAAAAAAAAAAAAAAAAA==",         // padding
              "AAAAAAAAAAAAAAAAAAAAAAA ",
              "AAAAAAAAAAAAAAAAAAAAAA\u{E9}",     // 24 UTF-8 bytes, not ASCII
              "../../../../../../etc/pa",
          ])
    func malformed(text: String) {
        #expect(!TicketID.isWellFormed(text[...]))
    }

    @Test("isWellFormed accepts the whole alphabet, also as a substring of a path")
    func wellFormed() {
        #expect(TicketID.isWellFormed("abcdefghijklmnopqrstuvwx"[...]))
        #expect(TicketID.isWellFormed("ABCDEFGHIJKLMNOPQRSTUVWX"[...]))
        #expect(TicketID.isWellFormed("0123456789-_0123456789-_"[...]))
        let path = "/v1/tickets/0123456789-_0123456789-_/pickup"
        let parts = path.split(separator: "/")
        #expect(TicketID.isWellFormed(parts[2]))
        #expect(!TicketID.isWellFormed(parts[1]))
    }
}
