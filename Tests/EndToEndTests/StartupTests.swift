import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Start-up order and single ownership with the real binary: clean restarts that never burn an
/// attempt of their own, a second daemon refused (same database, or same port), a persistent
/// write failure logged at a bounded rate, and a clean stop that leaves the database whole.
@Suite("Start-up, single ownership and clean stops", .serialized, .timeLimit(.minutes(3)))
struct StartupTests {
    /// `sqlite3 -readonly` output of `sql` against `db`.
    static func query(_ db: String, _ sql: String, in dir: ScratchDirectory) async throws -> String {
        let result = try await runProgram("/usr/bin/sqlite3", ["-readonly", db, sql], in: dir.url)
        #expect(result.status.isCleanExit, "sqlite3 \(sql): \(result)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls the ticket (long polls of 1 s) until `done` holds or the deadline passes.
    static func waitForTicket(_ client: HTTPClient, _ ticket: String, timeout: Double = 20,
                              until done: (TicketBody) -> Bool) async throws -> TicketBody {
        let deadline = Deadline(seconds: timeout)
        var body: TicketBody = try await client.get("/v1/tickets/\(ticket)").decode()
        while !done(body) {
            if deadline.hasPassed { throw HarnessError("ticket \(ticket) stayed \(body.status) for \(timeout) s") }
            body = try await client.get("/v1/tickets/\(ticket)?wait=1&version=\(body.version)", timeout: 5).decode()
        }
        return body
    }

    @Test("three SIGTERM restarts while an order cooks: it is cooked to ready, attempts count only real claims, events in time order")
    func restartsWhileCooking() async throws {
        let dir = try ScratchDirectory("restarts")
        defer { dir.remove() }
        let config = """
            menu:
              - {item: stew, cook_seconds: 8}
            kitchen:
              shutdown_grace_seconds: 0.2
            """
        let configPath = try dir.write("ticketd.yaml", config)
        let arguments = ["serve", "--listen", "127.0.0.1:0", "--db", dir.path("t.db"), "--cooks", "1", "--config", configPath]
        var daemon = try await EndToEndTests.start(arguments: arguments, in: dir)
        defer { daemon.process.terminate(grace: 2) }
        let placed = try await daemon.client.placeOrder([("stew", 1)])
        #expect(placed.status == 202, "\(placed)")
        let ticket: TicketBody = try placed.decode()

        for restart in 1...3 {
            _ = try await Self.waitForTicket(daemon.client, ticket.ticket) { $0.status == "cooking" }
            try await EndToEndTests.stopCleanly(daemon)
            #expect(!daemon.process.stderr.text.contains("earlier run were handed back"),
                    "restart \(restart): a clean stop leaves nothing for the next start to hand back\n\(daemon.process.log)")
            daemon = try await EndToEndTests.start(arguments: arguments, in: dir)
            #expect(!daemon.process.stderr.text.contains("earlier run were handed back"), "\(daemon.process.log)")
        }
        let ready = try await Self.waitForTicket(daemon.client, ticket.ticket, timeout: 30) { $0.status != "queued" && $0.status != "cooking" }
        #expect(ready.status == "ready", "\(daemon.process.log)")
        try await EndToEndTests.stopCleanly(daemon)

        let db = dir.path("t.db")
        let attempts = try await Self.query(db, "SELECT attempts FROM orders", in: dir)
        let claims = try await Self.query(db, "SELECT count(*) FROM order_events WHERE to_status = 'cooking'", in: dir)
        #expect(attempts == claims, "attempts \(attempts), claims \(claims)")
        #expect(try await Self.query(db, "SELECT count(*) FROM order_events WHERE detail LIKE '%restarted%'", in: dir) == "0")
        #expect(try await Self.query(db, "SELECT status FROM orders", in: dir) == "ready")
        // Event times never go backwards in the order they were recorded.
        let times = try await Self.query(db, "SELECT at FROM order_events ORDER BY id", in: dir).split(separator: "\n")
        #expect(times == times.sorted(), "events out of time order: \(times)")
        #expect(times.count == 9, "placed, 4 claims, 3 hand-backs at shutdown, ready: \(times)")
    }

    @Test("a second daemon on the same database is refused within 2 s naming the lock, and the first daemon's work is untouched; one on a taken port is refused naming the address")
    func secondDaemonRefused() async throws {
        let dir = try ScratchDirectory("second")
        defer { dir.remove() }
        let config = """
            menu:
              - {item: stew, cook_seconds: 60}
            """
        let first = try await EndToEndTests.start(in: dir, cooks: 2, config: config)
        defer { first.process.terminate(grace: 2) }
        for _ in 0..<4 { #expect(try await first.client.placeOrder([("stew", 1)]).status == 202) }
        let db = dir.path("t.db")
        let snapshotSQL = "SELECT id, status, version, attempts, lease_token FROM orders ORDER BY id"
        try await waitUntilTrue("two orders cooking", timeout: 10) {
            try await Self.query(db, "SELECT count(*) FROM orders WHERE status = 'cooking'", in: dir) == "2"
        }
        let before = try await Self.query(db, snapshotSQL, in: dir)

        // The same database (another port): refused at once, naming the lock; no database work.
        let started = ContinuousClock.now
        let sameDB = try await runTicketd(["serve", "--listen", "127.0.0.1:0", "--db", db, "--cooks", "2"], in: dir.url, timeout: 10)
        let took = ContinuousClock.now - started
        #expect(!sameDB.status.isCleanExit && !sameDB.status.bySignal, "\(sameDB)")
        #expect(took < .seconds(2), "refused after \(took)")
        #expect(sameDB.stderr.contains("t.db.lock") && sameDB.stderr.contains("already serving"), "\(sameDB)")
        #expect(sameDB.stderr.split(separator: "\n").count <= 3, "\(sameDB)")
        // `migrate` is refused too while the daemon holds the lock.
        let migrate = try await runTicketd(["migrate", "--db", db], in: dir.url, timeout: 10)
        #expect(!migrate.status.isCleanExit && migrate.stderr.contains("t.db.lock"), "\(migrate)")

        // Another database on the first daemon's port: refused, naming the address.
        let otherDir = try ScratchDirectory("second-port")
        defer { otherDir.remove() }
        let portStarted = ContinuousClock.now
        let samePort = try await runTicketd(["serve", "--listen", "127.0.0.1:\(first.port)", "--db", otherDir.path("o.db")],
                                            in: otherDir.url, timeout: 10)
        #expect(ContinuousClock.now - portStarted < .seconds(2))
        #expect(!samePort.status.isCleanExit && !samePort.status.bySignal, "\(samePort)")
        #expect(samePort.stderr.contains("127.0.0.1:\(first.port)") && samePort.stderr.contains("in use"), "\(samePort)")
        #expect(samePort.stderr.split(separator: "\n").count <= 3, "\(samePort)")
        #expect(!FileManager.default.fileExists(atPath: otherDir.path("o.db")), "the port is checked before the database is made")

        // The first daemon's orders and leases are as they were, and it still serves.
        #expect(try await Self.query(db, snapshotSQL, in: dir) == before)
        #expect(try await first.client.get("/readyz").status == 200)
        #expect(!first.process.stderr.text.contains("lease lost"), "\(first.process.log)")
    }

    @Test("under a persistent write failure (writes past RLIMIT_FSIZE fail) the daemon logs at most 5 lines a second over 10 s, answers 503, and exits 0 on SIGTERM")
    func persistentWriteFailure() async throws {
        let dir = try ScratchDirectory("efbig")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 2)
        defer { daemon.process.terminate(grace: 2) }
        #expect(try await daemon.client.placeOrder([("burger", 1)]).status == 202)
        // From now on every write at an offset past 4 KiB fails with EFBIG: every commit fails.
        let limited = try await runProgram("/usr/bin/prlimit", ["--pid", String(daemon.process.pid), "--fsize=4096:unlimited"],
                                           in: dir.url)
        #expect(limited.status.isCleanExit, "\(limited)")
        let linesBefore = daemon.process.stderr.text.split(separator: "\n").count
        // Two clients place orders for 10 s; each must be answered 503.
        let statuses = StatusTally()
        let client = daemon.client
        let window = Deadline(seconds: 10)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await onThread {
                        while !window.hasPassed {
                            let body = Array(#"{"items":[{"item":"burger","quantity":1}]}"#.utf8)
                            let status = (try? client.request("POST", "/v1/orders", headers: [("Content-Type", "application/json")],
                                                              body: body, timeout: 10).status) ?? -1
                            statuses.count(status)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let lines = daemon.process.stderr.text.split(separator: "\n").count - linesBefore
        let answered = statuses.counts
        #expect(answered[503, default: 0] > 20 && answered.keys.allSatisfy { $0 == 503 }, "\(answered)")
        #expect(lines <= 50, "\(lines) log lines in 10 s:\n\(daemon.process.log)")
        try await EndToEndTests.stopCleanly(daemon, timeout: 20)
    }

    @Test("a clean stop checkpoints the WAL: the .db file copied alone holds every acknowledged order")
    func cleanStopLeavesDatabaseWhole() async throws {
        let dir = try ScratchDirectory("cleanstop")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0)
        defer { daemon.process.terminate(grace: 2) }
        var tickets: [String] = []
        for _ in 0..<50 {
            let placed = try await daemon.client.placeOrder([("burger", 1)])
            #expect(placed.status == 202)
            tickets.append(try placed.decode(TicketBody.self).ticket)
        }
        try await EndToEndTests.stopCleanly(daemon)
        let db = dir.path("t.db")
        let walSize = (try? FileManager.default.attributesOfItem(atPath: db + "-wal")[.size] as? Int) ?? 0
        #expect(walSize == 0, "the WAL holds \(walSize) bytes after a clean stop")
        #expect(try await CrashRecoveryTests.integrityCheck(db, in: dir) == "ok")
        // The usual backup of a stopped service: the .db file alone.
        let copyDir = try ScratchDirectory("cleanstop-copy")
        defer { copyDir.remove() }
        try FileManager.default.copyItem(atPath: db, toPath: copyDir.path("copy.db"))
        let stored = try await Self.query(copyDir.path("copy.db"), "SELECT ticket FROM orders ORDER BY id", in: copyDir)
        #expect(stored.split(separator: "\n").map(String.init) == tickets)
    }

    @Test("a database written by the single-node release (before the store interface) migrates and serves with this binary")
    func oldDatabaseServes() async throws {
        let dir = try ScratchDirectory("fixture")
        defer { dir.remove() }
        let db = dir.path("t.db")
        try FileManager.default.copyItem(atPath: packageRoot.appendingPathComponent("Tests/Fixtures/sqlite-before-store-interface.db").path,
                                         toPath: db)
        let migrate = try await runTicketd(["migrate", "--db", db], in: dir.url)
        // Only what came after it: 0002 rebuilds the two tables it was written with.
        #expect(migrate.status.isCleanExit && migrate.stdout.contains("applied 0002_status_checks_without_in_lists"), "\(migrate)")
        // The fixture's ready order was made ready long ago: a pickup timeout of years keeps it.
        let daemon = try await EndToEndTests.start(in: dir, cooks: 0, config: "tickets:\n  pickup_timeout_seconds: 1000000000\nmenu:\n  - {item: burger, cook_seconds: 0}\n")
        defer { daemon.process.terminate(grace: 2) }
        #expect(daemon.process.stderr.text.contains("orders left cooking by an earlier run were handed back count=1"),
                "\(daemon.process.log)")
        let ready: TicketBody = try await daemon.client.get("/v1/tickets/87eoE3iSdzCDj-sQ5tiGJmOMKwl_f7").decode()
        #expect(ready.number == 2 && ready.status == "ready")
        let handedBack: TicketBody = try await daemon.client.get("/v1/tickets/87eoIHmfk8Jr-Q6ouIcehJbBMuqAp3").decode()
        #expect(handedBack.number == 3 && handedBack.status == "queued")
        #expect(try await daemon.client.post("/v1/tickets/87eoE3iSdzCDj-sQ5tiGJmOMKwl_f7/pickup").status == 200)
        let placed = try await daemon.client.placeOrder([("burger", 1)])
        #expect(placed.status == 202, "\(placed)")
        #expect(try placed.decode(TicketBody.self).number == 7, "\(placed)")
        try await EndToEndTests.stopCleanly(daemon)
        #expect(try await CrashRecoveryTests.integrityCheck(db, in: dir) == "ok")
    }
}

/// Waits until `condition` holds (checked every 50 ms) or fails after `timeout` seconds.
func waitUntilTrue(_ what: String, timeout: Double, _ condition: () async throws -> Bool) async throws {
    let deadline = Deadline(seconds: timeout)
    while try await !condition() {
        if deadline.hasPassed { throw HarnessError("timed out after \(timeout) s waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(50))  // a poll interval with a deadline, not synchronisation
    }
}

/// HTTP statuses seen by several client threads.
final class StatusTally: Sendable {
    private let state = Mutex<[Int: Int]>([:])
    func count(_ status: Int) { state.withLock { $0[status, default: 0] += 1 } }
    var counts: [Int: Int] { state.withLock { $0 } }
}
