/// Splits a migration file into its statements: postgres-nio speaks the extended protocol,
/// which takes one statement per query. Semicolons inside quotes ('…', "…"), dollar-quoted
/// bodies ($$…$$, $tag$…$tag$) and comments do not split.
enum SQLScript {
    static func statements(_ text: String) -> [String] {
        let s = Array(text.utf8)
        var out: [String] = []
        var start = 0
        var i = 0
        func flush(_ end: Int) {
            let piece = String(decoding: s[start..<end], as: UTF8.self)
            if piece.split(whereSeparator: \.isNewline).contains(where: { line in
                let t = line.drop(while: { $0 == " " || $0 == "\t" })
                return !t.isEmpty && !t.hasPrefix("--")
            }) {
                out.append(piece.trimmingWhitespace())
            }
        }
        while i < s.count {
            let c = s[i]
            if c == UInt8(ascii: "-"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "-") {
                while i < s.count, s[i] != UInt8(ascii: "\n") { i += 1 }
            } else if c == UInt8(ascii: "/"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "*") {
                i += 2
                while i + 1 < s.count, !(s[i] == UInt8(ascii: "*") && s[i + 1] == UInt8(ascii: "/")) { i += 1 }
                i += 2
            } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
                i += 1
                while i < s.count, s[i] != c { i += 1 }
                i += 1
            } else if c == UInt8(ascii: "$"), let tagEnd = dollarTagEnd(s, from: i) {
                let tag = s[i...tagEnd]
                i = tagEnd + 1
                while i < s.count {
                    if s[i] == UInt8(ascii: "$"), i + tag.count <= s.count, s[i..<(i + tag.count)].elementsEqual(tag) {
                        i += tag.count
                        break
                    }
                    i += 1
                }
            } else if c == UInt8(ascii: ";") {
                flush(i)
                i += 1
                start = i
            } else {
                i += 1
            }
        }
        if start < s.count { flush(s.count) }
        return out
    }

    /// The index of the closing `$` of a dollar-quote tag starting at `from` ($$ or $name$), or nil
    /// (a parameter like $1 is no tag).
    private static func dollarTagEnd(_ s: [UInt8], from: Int) -> Int? {
        var j = from + 1
        while j < s.count {
            let c = s[j]
            if c == UInt8(ascii: "$") { return j }
            let letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == UInt8(ascii: "_")
            let digit = c >= 48 && c <= 57
            if !(letter || (digit && j > from + 1)) { return nil }
            j += 1
        }
        return nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var sub = Substring(self)
        while let f = sub.first, f.isWhitespace { sub.removeFirst() }
        while let l = sub.last, l.isWhitespace { sub.removeLast() }
        return String(sub)
    }
}
