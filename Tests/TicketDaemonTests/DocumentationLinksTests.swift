import Foundation
import Testing

/// The repository stands alone: its documents link only to files it holds. (The README once
/// linked `../shared/SPEC.md`, which a clone does not have.)
@Suite("Documentation links")
struct DocumentationLinksTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// README.md, the other top-level documents, and docs/*.md.
    static func documents() throws -> [URL] {
        let fm = FileManager.default
        var files = ["README.md", "RELIABILITY.md", "BENCHMARKS.md"].map { root.appendingPathComponent($0) }
        let docs = root.appendingPathComponent("docs")
        files += try fm.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
            .map { docs.appendingPathComponent($0) }
        return files
    }

    /// The targets of inline Markdown links `[text](target)` outside code blocks and code spans.
    static func linkTargets(in markdown: String) -> [String] {
        var targets: [String] = []
        var inFence = false
        for line in markdown.components(separatedBy: "\n") {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                inFence.toggle()
                continue
            }
            if inFence { continue }
            // Code spans hold text, not links.
            let text = line.split(separator: "`", omittingEmptySubsequences: false).enumerated()
                .filter { $0.offset % 2 == 0 }.map(\.element).joined(separator: " ")
            var rest = Substring(text)
            while let open = rest.range(of: "](") {
                let after = rest[open.upperBound...]
                guard let close = after.firstIndex(of: ")") else { break }
                let target = after[..<close].split(separator: " ").first.map(String.init) ?? ""
                targets.append(target)
                rest = after[close...]
            }
        }
        return targets
    }

    /// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
    static func anchor(_ heading: String) -> String {
        heading.lowercased().compactMap { c -> String? in
            if c == " " { return "-" }
            if c.isLetter || c.isNumber || c == "-" || c == "_" { return String(c) }
            return nil
        }.joined()
    }

    static func anchors(in markdown: String) -> Set<String> {
        var inFence = false
        var result: Set<String> = []
        for line in markdown.components(separatedBy: "\n") {
            if line.hasPrefix("```") { inFence.toggle(); continue }
            guard !inFence, line.hasPrefix("#") else { continue }
            let heading = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces)
            result.insert(anchor(heading))
        }
        return result
    }

    @Test("the parser finds links and skips code")
    func parser() {
        let text = """
            See [the API](docs/api.md) and [ops](docs/operations.md#logs "title"), not `[x](nowhere.md)`.
            ```
            [y](also-nowhere.md)
            ```
            <https://example.com/> [site](https://www.swift.org/install/)
            """
        #expect(Self.linkTargets(in: text) == ["docs/api.md", "docs/operations.md#logs", "https://www.swift.org/install/"])
        #expect(Self.anchor("Start-up, the instance lock and restarts") == "start-up-the-instance-lock-and-restarts")
        #expect(Self.anchor("`GET /v1/menu`") == "get-v1menu")
    }

    @Test("every relative link in README.md and docs/*.md names a file in the repository (and an anchor in it)")
    func relativeLinksResolve() throws {
        let fm = FileManager.default
        let documents = try Self.documents()
        #expect(documents.contains { $0.lastPathComponent == "api.md" })
        #expect(documents.contains { $0.lastPathComponent == "operations.md" })
        #expect(documents.contains { $0.lastPathComponent == "internals.md" })
        var checked = 0
        for document in documents {
            let text = try String(contentsOf: document, encoding: .utf8)
            let name = document.path.replacingOccurrences(of: Self.root.path + "/", with: "")
            for target in Self.linkTargets(in: text) {
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                checked += 1
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
                let path = String(parts[0])
                let file = path.isEmpty ? document
                    : document.deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
                #expect(file.path.hasPrefix(Self.root.path + "/"), "\(name): \(target) points outside the repository")
                #expect(fm.fileExists(atPath: file.path), "\(name): \(target) does not exist")
                if parts.count == 2, file.pathExtension == "md", fm.fileExists(atPath: file.path) {
                    let anchors = Self.anchors(in: try String(contentsOf: file, encoding: .utf8))
                    #expect(anchors.contains(String(parts[1])), "\(name): no heading for #\(parts[1]) in \(path.isEmpty ? name : path)")
                }
            }
        }
        #expect(checked > 10, "only \(checked) relative links found")
    }

    @Test("the systemd unit's Documentation= names documents that scripts/install installs")
    func unitDocumentation() throws {
        let unit = try String(contentsOf: Self.root.appendingPathComponent("systemd/ticketd.service"), encoding: .utf8)
        let line = try #require(unit.split(separator: "\n").first { $0.hasPrefix("Documentation=") })
        #expect(!line.contains("example.invalid"))
        let install = try String(contentsOf: Self.root.appendingPathComponent("scripts/install"), encoding: .utf8)
        let prefix = "file:/usr/local/share/doc/ticketd/"
        let files = line.dropFirst("Documentation=".count).split(separator: " ").filter { $0.hasPrefix(prefix) }
        #expect(!files.isEmpty)
        for file in files {
            let relative = String(file.dropFirst(prefix.count))
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(relative).path), "\(relative)")
            #expect(install.contains(relative.hasPrefix("docs/") ? "docs/*.md" : relative), "scripts/install does not install \(relative)")
        }
    }
}
