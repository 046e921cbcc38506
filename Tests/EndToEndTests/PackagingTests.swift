import Foundation
import Testing

/// What `scripts/package` relies on, checked on every test run so that a change here fails CI
/// rather than the next packaging: the one version string, and the changelog entry for it.
/// (The package itself is built and checked by `scripts/package --check`, outside the test suite.)
@Suite("Packaging")
struct PackagingTests {
    /// The version as `scripts/package` reads it: the quoted string of the `ticketdVersion` line.
    static func sourceVersion() throws -> String {
        let file = packageRoot.appendingPathComponent("Sources/TicketDaemon/Version.swift")
        let text = try String(contentsOf: file, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("public let ticketdVersion = \"") },
                                "no `public let ticketdVersion = \"…\"` line in \(file.path)")
        let parts = line.split(separator: "\"")
        try #require(parts.count == 2 && line.hasSuffix("\""), "the version line is not a plain string literal: \(line)")
        return String(parts[1])
    }

    @Test("ticketd --version prints the version of Version.swift, the one scripts/package reads")
    func versionFlag() async throws {
        let dir = try ScratchDirectory("version")
        defer { dir.remove() }
        let result = try await runTicketd(["--version"], in: dir.url)
        #expect(result.status.isCleanExit, "\(result)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == (try Self.sourceVersion()))
    }

    @Test("packaging/deb/changelog starts with an entry for that version")
    func changelogHasTheVersion() throws {
        let changelog = try String(contentsOf: packageRoot.appendingPathComponent("packaging/deb/changelog"), encoding: .utf8)
        let first = changelog.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("ticketd (\(try Self.sourceVersion())-"), "first changelog line: \(first)")
    }
}
