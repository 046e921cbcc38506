import Foundation
import Synchronization
import Testing
import TicketTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Clients that cost the daemon without asking anything of it, and a database that cannot take
/// writes: each test is the regression test of a defect that scripts/hostile or scripts/exhaust
/// found (see RELIABILITY.md).
@Suite("Hostile clients and exhaustion", .serialized, .timeLimit(.minutes(3)))
struct HostileClientTests {
    static func config(_ extra: String) -> String {
        """
        log_level: info
        menu:
          - {item: cola, cook_seconds: 0}
        \(extra)
        """
    }

    /// A raw connection's request, without `Connection: close`.
    static func keepAliveRequest(_ path: String) -> [UInt8] {
        Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    }

    // MARK: Idle timeout

    @Test("an idle connection is closed after idle_timeout_seconds; a long poll and an SSE stream waiting longer are not")
    func idleConnectionClosed() async throws {
        let dir = try ScratchDirectory("idle")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0,
                                                   config: Self.config("idle_timeout_seconds: 1\nrequest_read_timeout_seconds: 30"))
        defer { daemon.process.terminate(grace: 5) }

        // A connection that never sends a byte is closed by the server.
        let closed = try await onThread { () -> [UInt8] in
            let idle = try HTTPConnection(port: daemon.port, timeout: 20)
            defer { idle.close() }
            return try idle.readToEnd(deadline: Deadline(seconds: 20))
        }
        #expect(closed.isEmpty, "an idle connection got \(String(decoding: closed, as: UTF8.self))")

        // Waiting on the server is not idleness: a 3-second long poll answers 200.
        let placed = try await daemon.client.placeOrder([("cola", 1)])
        #expect(placed.status == 202, "\(placed)")
        let ticket = try #require(placed.header("Location")?.split(separator: "/").last.map(String.init))
        let poll = try await daemon.client.get("/v1/tickets/\(ticket)?wait=3&version=1", timeout: 20)
        #expect(poll.status == 200, "\(poll)")

        // An SSE stream quiet for longer than the idle timeout still delivers the next change.
        let stream = try await onThread { try daemon.client.openEvents("/v1/tickets/\(ticket)/events") }
        defer { stream.close() }
        let first = try await onThread { try stream.next(timeout: 10) }
        #expect(first?.event == "ticket")
        let quiet = try await onThread { () -> ServerSentEvent? in
            // Nothing changes for 2.5 s (2.5 idle timeouts); a wait that times out is expected.
            (try? stream.next(timeout: 2.5)) ?? nil
        }
        #expect(quiet == nil, "no change was made, yet: \(String(describing: quiet))")
        let cancelled = try await onThread { try daemon.client.request("DELETE", "/v1/tickets/\(ticket)") }
        #expect(cancelled.status == 200, "\(cancelled)")
        let change = try await onThread { try stream.next(timeout: 10) }
        #expect(change?.data.contains("\"cancelled\"") == true, "\(String(describing: change))")
    }

    // MARK: Slow-loris

    @Test("a client trickling its request head or body is cut off after request_read_timeout_seconds; others are served")
    func slowLorisClosed() async throws {
        let dir = try ScratchDirectory("slowloris")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0,
                                                   config: Self.config("idle_timeout_seconds: 60\nrequest_read_timeout_seconds: 1"))
        defer { daemon.process.terminate(grace: 5) }

        // One header byte every 200 ms: the idle timeout (60 s) alone would not stop it.
        let head = try await Self.trickle(port: daemon.port, start: "GET /v1/board HTTP/1.1\r\nHost: x\r\nX-Slow: ",
                                          byte: UInt8(ascii: "a"))
        #expect(head.hasPrefix("HTTP/1.1 408"), "a slow head got: \(head)")
        #expect(head.contains("application/problem+json"), "\(head)")

        // A whole head, then a body one byte every 200 ms: closed (the head was answered already
        // or not at all, so no 408 is written into the middle of an exchange).
        let body = try await Self.trickle(
            port: daemon.port,
            start: "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n",
            byte: UInt8(ascii: " "))
        #expect(!body.contains("202"), "a slow body got: \(body)")

        let board = try await daemon.client.get("/v1/board")
        #expect(board.status == 200, "\(board)")
        let metrics = try await daemon.client.get("/metrics")
        #expect(metrics.text.contains("ticketd_request_read_timeouts_total 2"), "\(metrics.text)")
    }

    /// Sends `start`, then `byte` every 200 ms until the server closes the connection (at most
    /// 20 s); returns what the server wrote.
    static func trickle(port: Int, start: String, byte: UInt8) async throws -> String {
        try await onThread {
            let connection = try HTTPConnection(port: port, timeout: 20)
            defer { connection.close() }
            try connection.send(Array(start.utf8), deadline: Deadline(seconds: 5))
            let stop = StopFlag()
            let finished = DispatchSemaphore(value: 0)
            let trickler = Thread {
                defer { finished.signal() }
                let deadline = Deadline(seconds: 20)
                while !stop.isSet, !deadline.hasPassed {
                    // Pacing of the slow client itself, not synchronisation.
                    usleep(200_000)
                    if stop.isSet { return }
                    if (try? connection.send([byte], deadline: Deadline(seconds: 1))) == nil { return }
                }
            }
            trickler.start()
            // The trickler must be gone before the socket is closed: a byte sent after close()
            // would land on whatever connection reuses the descriptor (seen: the next request of
            // the test answered a bare 400).
            defer {
                stop.set()
                finished.wait()
            }
            let answer = try connection.readToEnd(deadline: Deadline(seconds: 20))
            return String(decoding: answer, as: UTF8.self)
        }
    }

    // MARK: Malformed bodies

    @Test("a body that is not valid HTTP (bad chunked encoding) is answered 400 problem+json, not 500")
    func malformedBodyIs400() async throws {
        let dir = try ScratchDirectory("badchunk")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0, config: Self.config(""))
        defer { daemon.process.terminate(grace: 5) }
        for body in ["ZZ\r\nabc\r\n0\r\n\r\n", "3\r\nabcXX0\r\n\r\n"] {
            let answer = try await onThread { () -> String in
                let c = try HTTPConnection(port: daemon.port, timeout: 10)
                defer { c.close() }
                let head = "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                try c.send(Array((head + body).utf8), deadline: Deadline(seconds: 5))
                return String(decoding: try c.readToEnd(deadline: Deadline(seconds: 10)), as: UTF8.self)
            }
            #expect(answer.hasPrefix("HTTP/1.1 400"), "\(body.debugDescription) got: \(answer)")
            #expect(answer.contains("application/problem+json"), "\(answer)")
        }
        let metrics = try await daemon.client.get("/metrics")
        #expect(!metrics.text.contains("status=\"500\""), "\(metrics.text)")
    }

    // MARK: Connection limit

    @Test("a connection beyond max_connections gets 503 problem+json with Retry-After; a freed slot serves again")
    func connectionLimitRefuses() async throws {
        let dir = try ScratchDirectory("maxconn")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0, config: Self.config("max_connections: 2"))
        defer { daemon.process.terminate(grace: 5) }
        let port = daemon.port

        // Two keep-alive connections, each answered once (so the server has counted both).
        let held = try await onThread { () -> [HTTPConnection] in
            try (0..<2).map { _ in
                let c = try HTTPConnection(port: port, timeout: 10)
                try c.send(Self.keepAliveRequest("/healthz"), deadline: Deadline(seconds: 5))
                let (status, headers) = try c.readHead(deadline: Deadline(seconds: 10))
                guard status == 200 else { throw HarnessError("healthz answered \(status)") }
                c.setFraming(status: status, method: "GET", headers: headers)
                _ = try c.readBody(deadline: Deadline(seconds: 10))
                return c
            }
        }
        let refused = try await daemon.client.get("/v1/board")
        #expect(refused.status == 503, "\(refused)")
        #expect(refused.header("Retry-After") == "1", "\(refused)")
        #expect(refused.header("Content-Type") == "application/problem+json", "\(refused)")
        #expect(refused.text.contains("max_connections"), "\(refused)")

        held[0].close()
        let deadline = Deadline(seconds: 10)
        var status = 0
        while status != 200, !deadline.hasPassed {
            status = (try? await daemon.client.get("/v1/board", timeout: 5))?.status ?? 0
        }
        #expect(status == 200, "a freed slot did not serve again within 10 s")
        held[1].close()
        // The closes above reach the daemon a moment later: until then a new connection may
        // still be one too many.
        var metrics = try await daemon.client.get("/metrics")
        let metricsDeadline = Deadline(seconds: 10)
        while metrics.status != 200, !metricsDeadline.hasPassed {
            metrics = try await daemon.client.get("/metrics", timeout: 5)
        }
        #expect(metrics.text.contains("ticketd_connections_refused_total"), "\(metrics.text)")
    }

    // MARK: Database exhaustion

    @Test("placements while another process holds the write lock past the busy timeout: 503 with Retry-After, then service resumes")
    func heldWriteLock() async throws {
        let sqlite3 = "/usr/bin/sqlite3"
        try #require(FileManager.default.isExecutableFile(atPath: sqlite3), "sqlite3 is needed (scripts/ensure-deps installs it)")
        let dir = try ScratchDirectory("locked")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0, config: Self.config(""))
        defer { daemon.process.terminate(grace: 5) }
        let before = try await daemon.client.placeOrder([("cola", 1)])
        #expect(before.status == 202, "\(before)")

        let (holder, input) = try await Self.holdWriteLock(sqlite3, in: dir)
        defer { holder.signal(SIGTERM) }

        // The writer waits out the 5 s busy timeout (a batch already waiting may add another 5 s).
        let during = try await onThread {
            try daemon.client.request("POST", "/v1/orders", headers: [("Content-Type", "application/json")],
                                      body: Array(#"{"items": [{"item": "cola"}]}"#.utf8), timeout: 30)
        }
        #expect(during.status == 503, "\(during)")
        #expect(during.header("Retry-After") != nil, "\(during)")
        #expect(during.header("Content-Type") == "application/problem+json", "\(during)")
        let health = try await daemon.client.get("/healthz")
        #expect(health.status == 200, "\(health)")

        try Self.releaseWriteLock(input)
        let released = try await onThread { holder.wait(timeout: 10) != nil }
        #expect(released, "sqlite3 did not exit")
        let after = try await Self.placeUntilAccepted(daemon.client)
        #expect(after == 202, "placements did not resume after the lock was released")
        let first = try #require(before.header("Location"))
        #expect(try await daemon.client.get(first).status == 200)
        try await EndToEndTests.stopCleanly(daemon)
        let check = try await runProgram(sqlite3, [dir.path("t.db"), "PRAGMA integrity_check"], in: dir.url)
        #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(check)")
    }

    /// An outside `sqlite3` that holds the write lock of `dir`'s `t.db` (`BEGIN IMMEDIATE`), once
    /// it has taken it; its standard input releases it (`releaseWriteLock`).
    static func holdWriteLock(_ sqlite3: String, in dir: ScratchDirectory) async throws -> (ChildProcess, FileHandle) {
        let holder = try ChildProcess(sqlite3, [dir.path("t.db")], in: dir.url, environment: ProcessInfo.processInfo.environment,
                                      writableInput: true)
        let input = try #require(holder.input)
        try input.write(contentsOf: Data("BEGIN IMMEDIATE;\n.shell touch locked\n".utf8))
        let lockDeadline = Deadline(seconds: 10)
        while !FileManager.default.fileExists(atPath: dir.path("locked")), !lockDeadline.hasPassed {
            try await Task.sleep(for: .milliseconds(20))  // polling a condition with a deadline
        }
        if !FileManager.default.fileExists(atPath: dir.path("locked")) { holder.signal(SIGTERM) }
        try #require(FileManager.default.fileExists(atPath: dir.path("locked")), "sqlite3 did not take the lock")
        return (holder, input)
    }

    /// Commits the holder's transaction and ends its input, so that it quits.
    static func releaseWriteLock(_ input: FileHandle) throws {
        try input.write(contentsOf: Data("COMMIT;\n.quit\n".utf8))
        try input.close()
    }

    @Test("the systemd watchdog keeps being pinged while another process holds the write lock (the writer waits, it is not stuck)")
    func watchdogDuringHeldLock() async throws {
        let sqlite3 = "/usr/bin/sqlite3"
        try #require(FileManager.default.isExecutableFile(atPath: sqlite3), "sqlite3 is needed (scripts/ensure-deps installs it)")
        let dir = try ScratchDirectory("watchdog-lock")
        defer { dir.remove() }
        let socket = try NotifySocket(path: dir.path("notify.sock"))
        defer { socket.close() }
        let config = try dir.write("ticketd.yaml", Self.config(""))
        // WATCHDOG_USEC of 2 s: a ping every second, each probe given half a second.
        let daemon = try await onThread {
            try TicketdProcess(arguments: ["serve", "--listen", "127.0.0.1:0", "--db", dir.path("t.db"), "--config", config,
                                           "--cooks", "0"],
                               directory: dir.url,
                               environment: ["NOTIFY_SOCKET": dir.path("notify.sock"), "WATCHDOG_USEC": "2000000"])
        }
        defer { daemon.terminate(grace: 5) }
        let ready = try await onThread { socket.waitFor(timeout: 20) { $0.contains("READY=1") } }
        try #require(ready != nil, "no READY=1 within 20 s\n\(daemon.log)")
        let port = try await onThread { try daemon.waitUntilListening(timeout: 5) }

        let (holder, input) = try await Self.holdWriteLock(sqlite3, in: dir)
        defer { holder.signal(SIGTERM) }
        // A placement keeps the writer busy behind the lock, as clients would.
        let placing = Task { try? await onThread {
            try HTTPClient(port: port).request("POST", "/v1/orders", headers: [("Content-Type", "application/json")],
                                               body: Array(#"{"items": [{"item": "cola"}]}"#.utf8), timeout: 30)
        } }

        // Over 7 s of held lock (longer than the 5 s busy timeout, and than systemd's 2 s here),
        // pings go on: count them.
        let pings = try await onThread { () -> Int in
            let deadline = Deadline(seconds: 7)
            var count = 0
            while !deadline.hasPassed {
                if let m = socket.receive(timeout: max(0.01, deadline.remaining)), m.contains("WATCHDOG=1") { count += 1 }
            }
            return count
        }
        try Self.releaseWriteLock(input)
        _ = await placing.value
        #expect(pings >= 4, "only \(pings) WATCHDOG=1 pings in 7 s of held lock: systemd would restart the daemon\n\(daemon.log)")
        let after = try await Self.placeUntilAccepted(HTTPClient(port: port))
        #expect(after == 202)
    }

    @Test("writes past RLIMIT_FSIZE (prlimit --fsize) answer 503 instead of killing the daemon; lifting it resumes service")
    func fileSizeLimit() async throws {
        let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let prlimit else {
            print("skipped: prlimit is not installed here (apt-get install util-linux)")
            return
        }
        let dir = try ScratchDirectory("fsize")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0, config: Self.config(""))
        defer { daemon.process.terminate(grace: 5) }
        let pid = String(daemon.process.pid)
        var acknowledged: [String] = []
        for _ in 0..<5 {
            let r = try await daemon.client.placeOrder([("cola", 1)])
            if let location = r.header("Location"), r.status == 202 { acknowledged.append(location) }
        }
        let limited = try await runProgram(prlimit, ["--pid", pid, "--fsize=16384:unlimited"], in: dir.url)
        try #require(limited.status.isCleanExit, "\(limited)")

        var refused: HTTPResponse?
        for _ in 0..<2000 {
            let r = try await daemon.client.placeOrder([("cola", 1)])
            if r.status == 202, let location = r.header("Location") { acknowledged.append(location); continue }
            refused = r
            break
        }
        let answer = try #require(refused, "2000 placements all succeeded under a 16 KiB file size limit")
        #expect(answer.status == 503, "\(answer)")
        #expect(answer.header("Retry-After") != nil, "\(answer)")
        #expect(daemon.process.exited == nil, "the daemon ended: \(String(describing: daemon.process.exited))\n\(daemon.process.log)")

        let lifted = try await runProgram(prlimit, ["--pid", pid, "--fsize=unlimited"], in: dir.url)
        try #require(lifted.status.isCleanExit, "\(lifted)")
        let after = try await Self.placeUntilAccepted(daemon.client)
        #expect(after == 202, "placements did not resume once the limit was lifted\n\(daemon.process.log)")
        for location in acknowledged {
            let r = try await daemon.client.get(location)
            #expect(r.status == 200, "acknowledged \(location) is gone: \(r)")
        }
        try await EndToEndTests.stopCleanly(daemon)
        let check = try await runProgram("/usr/bin/sqlite3", [dir.path("t.db"), "PRAGMA integrity_check"], in: dir.url)
        #expect(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(check)")
    }

    final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .relaxed) }
        func set() { flag.store(true, ordering: .relaxed) }
    }

    /// Places orders until one is accepted or 15 s pass; the last status.
    static func placeUntilAccepted(_ client: HTTPClient) async throws -> Int {
        let deadline = Deadline(seconds: 15)
        var status = 0
        while status != 202, !deadline.hasPassed {
            status = (try? await client.placeOrder([("cola", 1)]))?.status ?? 0
            if status != 202 { try await Task.sleep(for: .milliseconds(100)) }  // the server's Retry-After, shortened
        }
        return status
    }
}
