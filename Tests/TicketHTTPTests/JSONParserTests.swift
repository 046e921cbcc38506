import Foundation
import Testing
@testable import TicketHTTP

/// The hand-written parser must accept exactly JSON: what it accepts Foundation accepts, and
/// what it rejects is not JSON (or is nested deeper than the limit).
@Suite("JSON parser", .timeLimit(.minutes(1)))
struct JSONParserTests {
    static let valid: [String] = [
        #"{}"#, #"[]"#, #"0"#, #"-0"#, #"1.5e3"#, #"-12.25E-2"#, #"123456789012345678"#, #"true"#, #"false"#, #"null"#,
        #""""#, #""plain""#, #""é ü 𝄞 🍔""#, #""\" \\ \/ \b \f \n \r \t""#, #""\u00e9\u0041\ud83c\udf54""#,
        #" { "items" : [ { "item" : "fries" , "quantity" : 2 } ] , "note" : null } "#,
        "\t\r\n[1,\n2]\n", #"{"a":{"b":{"c":[[[]]]}}}"#, #"{"a":1,"a":2}"#,
    ]

    static let invalid: [String] = [
        "", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "{'a':1}", "01", "-", "1.", ".5",
        "1e", "1e+", "+1", "NaN", "Infinity", "tru", "nulll", "\"open", "\"bad \\x escape\"", "\"tab\there\"",
        "\"\\ud83c\"", "\"\\udf54\"", "\"\\u12\"", "[1] [2]", "{} x", "// comment\n{}", "1e400",
    ]

    @Test("accepts JSON and agrees with Foundation on the value")
    func acceptsJSON() throws {
        for text in Self.valid {
            let ours = try #require(JSONValue.parse(Array(text.utf8)), "rejected \(text)")
            let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
            #expect(Self.same(ours, theirs), "\(text): \(ours) vs \(theirs)")
        }
    }

    @Test("rejects what is not JSON")
    func rejectsNonJSON() {
        for text in Self.invalid {
            #expect(JSONValue.parse(Array(text.utf8)) == nil, "accepted \(text.debugDescription)")
        }
    }

    @Test("keeps booleans apart from numbers")
    func booleans() {
        #expect(JSONValue.parse(Array("[true,1,false,0]".utf8)) == .array([.bool(true), .number(1), .bool(false), .number(0)]))
    }

    @Test("rejects invalid UTF-8 in strings")
    func invalidUTF8() {
        #expect(JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) == nil)
        #expect(JSONValue.parse([0x22, 0x5C, 0x6E, 0xC3, 0x22]) == nil)  // "\n" then a cut-off sequence
    }

    @Test("refuses nesting past the limit instead of exhausting the stack")
    func depthLimit() {
        let ok = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect(JSONValue.parse(Array(ok.utf8)) != nil)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONValue.parse(Array(deep.utf8)) == nil)
    }

    @Test("a repeated key keeps its last value")
    func repeatedKey() {
        #expect(JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8)) == .object(["a": .number(2)]))
    }

    static func same(_ ours: JSONValue, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let b): return (theirs as? Bool) == b
        case .number(let d): return (theirs as? NSNumber)?.doubleValue == d
        case .string(let s): return (theirs as? String) == s
        case .array(let a):
            guard let t = theirs as? [Any], t.count == a.count else { return false }
            return zip(a, t).allSatisfy { same($0, $1) }
        case .object(let o):
            guard let t = theirs as? [String: Any], t.count == o.count else { return false }
            return o.allSatisfy { key, value in t[key].map { same(value, $0) } ?? false }
        }
    }
}
