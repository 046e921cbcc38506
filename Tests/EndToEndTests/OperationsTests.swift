import Foundation
import Testing
import TicketTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Operating ticketd: the systemd unit, sd_notify, the operator's guide's sqlite3 recipes, install.
@Suite("Operations", .serialized, .timeLimit(.minutes(3)))
struct OperationsTests {
    static let unit = packageRoot.appendingPathComponent("systemd/ticketd.service")

    // MARK: systemd unit

    static var systemdAnalyze: String? {
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("systemd-analyze verify accepts the unit (ExecStart pointed at the built binary)")
    func unitVerifies() async throws {
        guard let analyze = Self.systemdAnalyze else {
            print("skipped: systemd-analyze is not installed here (apt-get install systemd)")
            return
        }
        let dir = try ScratchDirectory("unit")
        defer { dir.remove() }
        let binary = try TicketdBinary.require()
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        #expect(text.contains("ExecStart=/usr/local/bin/ticketd serve"))
        let copy = try dir.write("ticketd.service", text.replacingOccurrences(of: "/usr/local/bin/ticketd", with: binary.path))
        let socket = try dir.write("ticketd.socket", try String(contentsOf: Self.unit.deletingLastPathComponent()
            .appendingPathComponent("ticketd.socket"), encoding: .utf8))
        let result = try await runProgram(analyze, ["verify", copy, socket], in: dir.url)
        #expect(result.status.isCleanExit, "\(result)")
        #expect(!result.stderr.contains("Unknown key"), "\(result)")
    }

    @Test("the unit is hardened: systemd-analyze security rates the exposure 1.5 or lower")
    func unitIsHardened() async throws {
        guard let analyze = Self.systemdAnalyze else {
            print("skipped: systemd-analyze is not installed here (apt-get install systemd)")
            return
        }
        let result = try await runProgram(analyze, ["security", "--offline=true", Self.unit.path], in: packageRoot)
        let all = result.stdout + result.stderr
        let exposure = try #require(all.range(of: "Overall exposure level for ticketd.service: ").map { range in
            Double(all[range.upperBound...].prefix { $0.isNumber || $0 == "." })
        } ?? nil, "no exposure level in:\n\(all)")
        #expect(exposure <= 1.5, "exposure \(exposure)")
        let text = try String(contentsOf: Self.unit, encoding: .utf8)
        for line in ["Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure", "ExecReload=",
                     "DynamicUser=yes", "StateDirectory=ticketd", "ConfigurationDirectory=ticketd",
                     "LoadCredential=admin-token:", "ProtectSystem=strict", "NoNewPrivileges=yes",
                     "MemoryDenyWriteExecute=yes", "UMask=0077", "CapabilityBoundingSet="] {
            #expect(text.contains(line), "the unit lacks \(line)")
        }
    }

    // MARK: sd_notify

    @Test("sd_notify: READY=1 once /readyz answers, WATCHDOG=1 pings, STOPPING=1 on SIGTERM")
    func notifyProtocol() async throws {
        let dir = try ScratchDirectory("notify")
        defer { dir.remove() }
        let socket = try NotifySocket(path: dir.path("notify.sock"))
        defer { socket.close() }
        let config = try dir.write("ticketd.yaml", "menu: [{item: cola, cook_seconds: 0}]\n")
        let daemon = try await onThread {
            try TicketdProcess(arguments: ["serve", "--listen", "127.0.0.1:0", "--db", dir.path("t.db"), "--config", config],
                               directory: dir.url,
                               environment: ["NOTIFY_SOCKET": dir.path("notify.sock"), "WATCHDOG_USEC": "400000"])
        }
        defer { daemon.terminate(grace: 5) }

        let ready = try await onThread { socket.waitFor(timeout: 20) { $0.contains("READY=1") } }
        let readyMessage = try #require(ready, "no READY=1 within 20 s\n\(daemon.log)")
        // READY=1 comes only once the server answers: /readyz is 200 at the moment it arrives.
        let port = try await onThread { try daemon.waitUntilListening(timeout: 5) }
        let readyz = try await HTTPClient(port: port).get("/readyz")
        #expect(readyz.status == 200, "\(readyz)")
        #expect(readyMessage.contains("STATUS=serving on 127.0.0.1:\(port)"), "\(readyMessage)")

        // Half of WATCHDOG_USEC (0.2 s) between pings: several within two seconds.
        let pings = try await onThread { () -> Int in
            let deadline = Deadline(seconds: 5)
            var count = 0
            while count < 4, !deadline.hasPassed {
                if let m = socket.receive(timeout: deadline.remaining), m.contains("WATCHDOG=1") { count += 1 }
            }
            return count
        }
        #expect(pings >= 4, "saw \(pings) WATCHDOG=1 pings\n\(socket.messages)")

        // The queue figures in STATUS=, once an order is waiting.
        _ = try await HTTPClient(port: port).placeOrder([("cola", 1)])
        let statusLine = try await onThread { socket.waitFor(timeout: 10) { $0.contains("STATUS=serving on") && $0.contains("queued") } }
        #expect(statusLine != nil, "no STATUS= with queue figures\n\(socket.messages)")

        // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
        daemon.signal(SIGHUP)
        let reloading = try await onThread { socket.waitFor(timeout: 10) { $0.contains("RELOADING=1") } }
        #expect(reloading?.contains("MONOTONIC_USEC=") == true, "\(socket.messages)")
        let readyAgain = try await onThread { () -> String? in
            let deadline = Deadline(seconds: 10)
            while !deadline.hasPassed {
                if let m = socket.receive(timeout: deadline.remaining), m.hasPrefix("READY=1") { return m }
            }
            return nil
        }
        #expect(readyAgain != nil, "no READY=1 after the reload\n\(socket.messages)")

        daemon.signal(SIGTERM)
        let stopping = try await onThread { socket.waitFor(timeout: 10) { $0.contains("STOPPING=1") } }
        #expect(stopping != nil, "no STOPPING=1 after SIGTERM\n\(socket.messages)\n\(daemon.log)")
        let status = try await daemon.waitForExit(timeout: 10)
        #expect(status?.isCleanExit == true, "\(status.map(\.description) ?? "still running")\n\(daemon.log)")
        // Nothing before READY=1 claimed readiness.
        #expect(socket.messages.first?.contains("READY=1") == true, "\(socket.messages)")
    }

    @Test("without NOTIFY_SOCKET nothing is sent and the daemon runs as usual")
    func noNotifySocket() async throws {
        let dir = try ScratchDirectory("nonotify")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0)
        defer { daemon.process.terminate(grace: 5) }
        #expect(try await daemon.client.get("/readyz").status == 200)
        try await EndToEndTests.stopCleanly(daemon)
    }

    @Test("log lines carry a level and the order's metadata; under journald (JOURNAL_STREAM) no timestamp of their own")
    func logLines() async throws {
        let dir = try ScratchDirectory("logs")
        defer { dir.remove() }
        let config = try dir.write("ticketd.yaml", "menu: [{item: cola, cook_seconds: 0}]\nlog_level: debug\n")
        for journald in [false, true] {
            let daemon = try await onThread {
                try TicketdProcess(arguments: ["serve", "--listen", "127.0.0.1:0", "--db", dir.path("t.db"), "--config", config],
                                   directory: dir.url, environment: journald ? ["JOURNAL_STREAM": "8:12345"] : [:])
            }
            defer { daemon.terminate(grace: 5) }
            let port = try await onThread { try daemon.waitUntilListening(timeout: 20) }
            let placed: TicketBody = try await HTTPClient(port: port).placeOrder([("cola", 1)]).decode()
            let line = try await onThread {
                daemon.stderr.wait(timeout: 10) { text in
                    text.split(separator: "\n").first { $0.contains("order ready") }.map(String.init)
                }
            }
            let readyLine = try #require(line, "no 'order ready' line\n\(daemon.log)")
            #expect(readyLine.contains("number=\(placed.number)") && readyLine.contains("order=") && readyLine.contains("cook=cook-"),
                    "\(readyLine)")
            #expect(readyLine.hasPrefix("debug ") == journald, "journald=\(journald): \(readyLine)")
            #expect(readyLine.first?.isNumber == !journald, "journald=\(journald): \(readyLine)")
            daemon.signal(SIGTERM)
            #expect(try await daemon.waitForExit(timeout: 10)?.isCleanExit == true, "\(daemon.log)")
        }
    }

    // MARK: sqlite3 recipes of docs/operations.md

    /// The `sqlite3 -readonly …` commands in docs/operations.md's "Inspecting the queue" section,
    /// each with the header line of the sample output shown under it.
    static func documentedRecipes() throws -> [(query: String, header: String)] {
        let guide = try String(contentsOf: packageRoot.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        guard let start = guide.range(of: "## Inspecting the queue") else { return [] }
        let section = guide[start.upperBound...].prefix { _ in true }
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        let lines = section[..<end].components(separatedBy: "\n")
        var recipes: [(String, String)] = []
        for (i, line) in lines.enumerated() {
            let prefix = "sqlite3 -readonly -header -column ticketd.db \""
            guard line.hasPrefix(prefix), line.hasSuffix("\"") else { continue }
            let query = String(line.dropFirst(prefix.count).dropLast())
            // The sample output block follows: ``` then ```, then its first line is the header.
            var j = i + 1
            while j < lines.count, !lines[j].hasPrefix("```") { j += 1 }  // end of the sh block
            j += 1
            while j < lines.count, !lines[j].hasPrefix("```") { j += 1 }  // start of the output block
            let header = j + 1 < lines.count ? lines[j + 1] : ""
            recipes.append((query, header))
        }
        return recipes
    }

    @Test("every sqlite3 recipe in docs/operations.md runs against a live daemon's database, with the documented columns")
    func readmeRecipesRun() async throws {
        let sqlite3 = "/usr/bin/sqlite3"
        try #require(FileManager.default.isExecutableFile(atPath: sqlite3), "sqlite3 is needed (scripts/ensure-deps installs it)")
        let recipes = try Self.documentedRecipes()
        #expect(recipes.count >= 6, "found \(recipes.count) recipes")

        let dir = try ScratchDirectory("recipes")
        defer { dir.remove() }
        try dir.write("token", "secret\n")
        let config = """
            admin_token_file: \(dir.path("token"))
            menu:
              - {item: slow, cook_seconds: 60}
              - {item: quick, cook_seconds: 0}
            kitchen:
              cooks: 1
            """
        let daemon = try await EndToEndTests.start(in: dir, cooks: 1, config: config)
        defer { daemon.process.terminate(grace: 5) }
        let client = daemon.client
        func place(_ item: String, priority: String = "normal") async throws -> TicketBody {
            let r = try await client.post("/v1/orders", json: #"{"items":[{"item":"\#(item)"}],"priority":"\#(priority)"}"#)
            #expect(r.status == 202, "\(r)")
            return try r.decode()
        }
        func waitStatus(_ t: TicketBody, _ status: String) async throws {
            let deadline = Deadline(seconds: 10)
            while !deadline.hasPassed {
                let b: TicketBody = try await client.get("/v1/tickets/\(t.ticket)").decode()
                if b.status == status { return }
                _ = try await client.get("/v1/tickets/\(t.ticket)?wait=1&version=\(b.version)")
            }
            Issue.record("ticket \(t.number) never reached \(status)")
        }
        // Every state: picked_up, ready, cooking (the slow one holds the only cook), queued,
        // cancelled, failed (an external cook gives up).
        let picked = try await place("quick")
        try await waitStatus(picked, "ready")
        #expect(try await client.post("/v1/tickets/\(picked.ticket)/pickup").status == 200)
        let ready = try await place("quick")
        try await waitStatus(ready, "ready")
        let cooking = try await place("slow")
        try await waitStatus(cooking, "cooking")
        _ = try await place("quick")
        let cancelled = try await place("quick")
        #expect(try client.request("DELETE", "/v1/tickets/\(cancelled.ticket)").status == 200)
        _ = try await place("quick", priority: "rush")
        let auth = [("Authorization", "Bearer secret"), ("Content-Type", "application/json")]
        let claim = try client.request("POST", "/v1/kitchen/claim", headers: auth, body: Array(#"{"cook":"grill-2"}"#.utf8))
        #expect(claim.status == 200, "\(claim)")
        let claimed = try JSONSerialization.jsonObject(with: Data(claim.body)) as? [String: Any]
        let lease = try #require(claimed?["lease"] as? String)
        let id = try #require((claimed?["order"] as? [String: Any])?["id"] as? Int)
        let fail = try client.request("POST", "/v1/kitchen/orders/\(id)/fail", headers: auth,
                                      body: Array(#"{"lease":"\#(lease)","error":"fryer jammed","retry":false}"#.utf8))
        #expect(fail.status == 200, "\(fail)")

        for (query, header) in recipes {
            let result = try await runProgram(sqlite3, ["-readonly", "-header", "-column", dir.path("t.db"), query], in: dir.url)
            #expect(result.status.isCleanExit, "\(query): \(result)")
            let lines = result.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.first.map { $0.split(separator: " ", omittingEmptySubsequences: true) }
                    == header.split(separator: " ", omittingEmptySubsequences: true).map { $0 },
                    "\(query): columns \(lines.first ?? "none"), docs/operations.md shows \(header)")
            #expect(lines.count >= 3, "\(query) printed no rows:\n\(result.stdout)")
        }
        let counts = try await runProgram(sqlite3, ["-readonly", dir.path("t.db"), "SELECT group_concat(status) FROM (SELECT DISTINCT status FROM orders ORDER BY status)"], in: dir.url)
        #expect(counts.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "cancelled,cooking,failed,picked_up,queued,ready")
        try await EndToEndTests.stopCleanly(daemon)
    }

    // MARK: install

    @Test("scripts/install lays the files out where the unit expects them; an edited config is kept; uninstall keeps data")
    func installIntoStagingRoot() async throws {
        let dir = try ScratchDirectory("install")
        defer { dir.remove() }
        let root = dir.url.appendingPathComponent("root")
        let binary = try TicketdBinary.require()
        let env = ["DESTDIR": root.path, "BINARY": binary.path]
        let install = try await runProgram("/bin/bash", [packageRoot.appendingPathComponent("scripts/install").path],
                                           in: packageRoot, environment: env)
        #expect(install.status.isCleanExit, "\(install)")
        let fm = FileManager.default
        func path(_ p: String) -> String { root.appendingPathComponent(p).path }
        #expect(fm.isExecutableFile(atPath: path("usr/local/bin/ticketd")))
        let unit = try String(contentsOfFile: path("etc/systemd/system/ticketd.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/ticketd serve --config /etc/ticketd/ticketd.yaml"))
        let config = try String(contentsOfFile: path("etc/ticketd/ticketd.yaml"), encoding: .utf8)
        #expect(config.contains("\nadmin_token_file: /run/credentials/ticketd.service/admin-token"))
        let token = try String(contentsOfFile: path("etc/ticketd/admin-token"), encoding: .utf8)
        #expect(token.count >= 32)
        let mode = try #require(try fm.attributesOfItem(atPath: path("etc/ticketd/admin-token"))[.posixPermissions] as? Int)
        #expect(mode & 0o077 == 0, "admin-token mode \(String(mode, radix: 8))")
        // The unit's Documentation= names a document that is installed.
        let documented = unit.split(separator: "\n").first { $0.hasPrefix("Documentation=") } ?? ""
        let files = documented.split(separator: " ").compactMap { word -> String? in
            guard let range = word.range(of: "file:") else { return nil }
            return String(word[range.upperBound...])
        }
        #expect(!files.isEmpty, "Documentation= names no file: \(documented)")
        for file in files { #expect(fm.fileExists(atPath: path(String(file.dropFirst()))), "\(file) is not installed") }
        #expect(!documented.contains("example.invalid"))
        #expect(fm.fileExists(atPath: path("usr/local/share/doc/ticketd/README.md")))
        #expect(fm.fileExists(atPath: path("usr/local/share/doc/ticketd/docs/operations.md")))
        #expect(fm.fileExists(atPath: path("usr/local/share/doc/ticketd/docs/api.md")))
        // The installed configuration is valid once the credential exists where it points.
        let tokenCopy = try dir.write("token-copy", token)
        // Outside the service the credential is not there: check-config says so, checks the rest
        // and succeeds (the command the configuration's own comment gives).
        let checked = try await runTicketd(["check-config", "--config", path("etc/ticketd/ticketd.yaml")], in: dir.url)
        #expect(checked.status.isCleanExit, "\(checked)")
        #expect(checked.stdout.contains("systemd credential"), "\(checked)")
        #expect(config.contains("ticketd check-config --config /etc/ticketd/ticketd.yaml"))
        let local = try dir.write("local.yaml", config.replacingOccurrences(
            of: "/run/credentials/ticketd.service/admin-token", with: tokenCopy))
        let checkedLocal = try await runTicketd(["check-config", "--config", local], in: dir.url)
        #expect(checkedLocal.status.isCleanExit, "\(checkedLocal)")

        // An edited configuration and the token survive a second install.
        try Data((config + "\n# edited by the operator\n").utf8).write(to: URL(fileURLWithPath: path("etc/ticketd/ticketd.yaml")))
        let again = try await runProgram("/bin/bash", [packageRoot.appendingPathComponent("scripts/install").path],
                                         in: packageRoot, environment: env)
        #expect(again.status.isCleanExit, "\(again)")
        #expect(try String(contentsOfFile: path("etc/ticketd/ticketd.yaml"), encoding: .utf8).contains("# edited by the operator"))
        #expect(fm.fileExists(atPath: path("etc/ticketd/ticketd.yaml.new")))
        #expect(try String(contentsOfFile: path("etc/ticketd/admin-token"), encoding: .utf8) == token)

        // Uninstall keeps configuration and data unless --purge.
        try fm.createDirectory(atPath: path("var/lib/ticketd"), withIntermediateDirectories: true)
        try Data("db".utf8).write(to: URL(fileURLWithPath: path("var/lib/ticketd/ticketd.db")))
        let uninstall = try await runProgram("/bin/bash", [packageRoot.appendingPathComponent("scripts/uninstall").path],
                                             in: packageRoot, environment: env)
        #expect(uninstall.status.isCleanExit, "\(uninstall)")
        #expect(!fm.fileExists(atPath: path("usr/local/bin/ticketd")))
        #expect(!fm.fileExists(atPath: path("etc/systemd/system/ticketd.service")))
        #expect(fm.fileExists(atPath: path("etc/ticketd/ticketd.yaml")))
        #expect(fm.fileExists(atPath: path("var/lib/ticketd/ticketd.db")))
        let purge = try await runProgram("/bin/bash", [packageRoot.appendingPathComponent("scripts/uninstall").path, "--purge"],
                                         in: packageRoot, environment: env)
        #expect(purge.status.isCleanExit, "\(purge)")
        #expect(!fm.fileExists(atPath: path("etc/ticketd")))
        #expect(!fm.fileExists(atPath: path("var/lib/ticketd")))
    }
}

extension OperationsTests {
    /// `scripts/install --help` used to install (it read no arguments). BINARY names a built
    /// binary, so a script that ignored its arguments would install at once rather than build.
    @Test("install and uninstall: --help prints usage and exits 0, an unknown argument exits 2; nothing is written",
          arguments: [("install", "--help", 0), ("install", "-h", 0), ("install", "--bogus", 2),
                      ("install", "--no-build --bogus", 2), ("uninstall", "--help", 0), ("uninstall", "--bogus", 2),
                      ("uninstall", "--purge --bogus", 2)])
    func scriptArguments(_ script: String, _ arguments: String, _ expected: Int32) async throws {
        let dir = try ScratchDirectory("install-args")
        defer { dir.remove() }
        let root = dir.url.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // Something for a wrongful uninstall to remove.
        let kept = root.appendingPathComponent("usr/local/bin/ticketd")
        if script == "uninstall" {
            try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("binary".utf8).write(to: kept)
        }
        let before = try Self.listing(root)
        let binary = try TicketdBinary.require()
        let result = try await runProgram("/bin/bash", [packageRoot.appendingPathComponent("scripts/\(script)").path]
                                          + arguments.split(separator: " ").map(String.init),
                                          in: packageRoot, environment: ["DESTDIR": root.path, "BINARY": binary.path],
                                          timeout: 20)
        #expect(result.status == ExitStatus(code: expected, bySignal: false), "\(result)")
        let usage = expected == 0 ? result.stdout : result.stderr
        #expect(usage.contains("Usage: scripts/\(script)"), "\(result)")
        if expected != 0 { #expect(result.stderr.contains("unknown argument"), "\(result)") }
        #expect(try Self.listing(root) == before, "scripts/\(script) \(arguments) changed the staging root")
    }

    /// The installed configuration names the admin token as a systemd credential, which exists
    /// only inside the service: `check-config` outside it exited 78, though the configuration's
    /// own comment gives that command.
    @Test("check-config outside systemd: a credential token is reported, the rest checked, exit 0; serve still refuses")
    func checkConfigWithCredential() async throws {
        let dir = try ScratchDirectory("credential")
        defer { dir.remove() }
        // A credential path of a service that does not run here.
        let credential = "/run/credentials/ticketd-test-\(UUID().uuidString).service/admin-token"
        let config = try dir.write("ticketd.yaml", "admin_token_file: \(credential)\nmenu: [{item: cola, cook_seconds: 0}]\n")
        let checked = try await runTicketd(["check-config", "--config", config], in: dir.url)
        #expect(checked.status.isCleanExit, "\(checked)")
        #expect(checked.stdout.contains("configuration OK"), "\(checked)")
        #expect(checked.stdout.contains("\(credential) is a systemd credential, readable only inside the service"), "\(checked)")

        // The rest is still checked.
        let bad = try dir.write("bad.yaml", "admin_token_file: \(credential)\nmax_connections: 0\n")
        let refused = try await runTicketd(["check-config", "--config", bad], in: dir.url)
        #expect(refused.status == ExitStatus(code: 78, bySignal: false), "\(refused)")
        #expect(refused.stderr.contains("max_connections"), "\(refused)")

        // A token file elsewhere that cannot be read is still an error.
        let elsewhere = try dir.write("elsewhere.yaml", "admin_token_file: \(dir.path("no-such-token"))\n")
        let missing = try await runTicketd(["check-config", "--config", elsewhere], in: dir.url)
        #expect(missing.status == ExitStatus(code: 78, bySignal: false), "\(missing)")
        #expect(missing.stderr.contains("admin_token_file"), "\(missing)")

        // serve needs the token itself (SPEC: a configured file that cannot be read stops the daemon).
        let served = try await runTicketd(["serve", "--config", config, "--listen", "127.0.0.1:0", "--db", dir.path("t.db")],
                                          in: dir.url)
        #expect(served.status == ExitStatus(code: 78, bySignal: false), "\(served)")
        #expect(served.stderr.contains("admin_token_file"), "\(served)")
    }

    /// Every path under `root`, relative to it.
    static func listing(_ root: URL) throws -> [String] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: root.path) else { throw HarnessError("cannot list \(root.path)") }
        return walker.compactMap { $0 as? String }.sorted()
    }
}

/// Runs a program to completion (killed after `timeout` seconds) and returns its output.
func runProgram(_ program: String, _ arguments: [String], in directory: URL, environment: [String: String] = [:],
                timeout: Double = 60) async throws -> CommandResult {
    try await onThread {
        let child = try ChildProcess(program, arguments, in: directory,
                                     environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new })
        guard let result = child.result(timeout: timeout) else {
            child.signal(SIGTERM)
            _ = child.wait(timeout: 5)
            throw HarnessError("\(program) \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
        }
        return result
    }
}

/// A unix datagram socket bound where NOTIFY_SOCKET points, collecting what the daemon sends.
final class NotifySocket: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in bytes.enumerated() { raw[i] = b } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw HarnessError("bind \(path): errno \(errno)") }
    }

    var messages: [String] { lock.withLock { received } }

    /// The next datagram within `timeout` seconds, or nil.
    func receive(timeout: Double) -> String? {
        guard timeout > 0 else { return nil }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let message = String(decoding: buffer[0..<n], as: UTF8.self)
        lock.withLock { received.append(message) }
        return message
    }

    /// Receives until a datagram satisfies `match` (returned) or the deadline passes (nil).
    func waitFor(timeout: Double, _ match: (String) -> Bool) -> String? {
        if let seen = messages.first(where: match) { return seen }
        let deadline = Deadline(seconds: timeout)
        while !deadline.hasPassed {
            if let m = receive(timeout: deadline.remaining), match(m) { return m }
        }
        return nil
    }

    func close() { _ = Glibc.close(fd) }
}
