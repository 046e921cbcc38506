import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety and signals with the real binary: SIGKILL during cooking and during a burst of
/// placements, SIGTERM with work queued and cooking, SIGHUP reloads.
@Suite("Crash recovery and signals", .serialized, .timeLimit(.minutes(3)))
struct CrashRecoveryTests {
    static let config = """
        menu:
          - {item: burger, cook_seconds: 0.2}
          - {item: cola, cook_seconds: 0}
          - {item: stew, cook_seconds: 0.4}
        tickets:
          max_number: 9999
        kitchen:
          shutdown_grace_seconds: 1
          max_attempts: 10
          retry_base_seconds: 0.05
          retry_max_seconds: 0.2
        """

    /// Long-polls `ticket` until it is ready (picking it up) or final; returns the final status.
    static func driveToFinal(_ client: HTTPClient, _ ticket: String, deadline: Deadline) async throws -> String {
        while !deadline.hasPassed {
            let read = try await client.get("/v1/tickets/\(ticket)")
            guard read.status == 200 else { return "HTTP \(read.status)" }
            let body: TicketBody = try read.decode()
            switch body.status {
            case "ready":
                let picked = try await client.post("/v1/tickets/\(ticket)/pickup")
                if picked.status == 200 { return "picked_up" }
            case "picked_up", "cancelled", "failed", "expired":
                return body.status
            default:
                _ = try await client.get("/v1/tickets/\(ticket)?wait=2&version=\(body.version)", timeout: 5)
            }
        }
        return "not final in time"
    }

    static func integrityCheck(_ db: String, in dir: ScratchDirectory) async throws -> String {
        let result = try await runProgram("/usr/bin/sqlite3", [db, "PRAGMA integrity_check"], in: dir.url)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("SIGKILL during a burst of placements and while orders cook: every acknowledged order survives and finishes")
    func killDuringBurstAndCooking() async throws {
        let dir = try ScratchDirectory("kill")
        defer { dir.remove() }
        let first = try await EndToEndTests.start(in: dir, cooks: 2, config: Self.config)
        defer { first.process.terminate(grace: 2) }

        // Eight clients place orders as fast as they can (bounded), remembering every 2xx.
        let burst = Burst()
        let client = first.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    try await onThread {
                        for i in 0..<400 where !burst.stop.load(ordering: .relaxed) {
                            let item = ["burger", "cola", "stew"][(worker + i) % 3]
                            let body = Array(#"{"items":[{"item":"\#(item)","quantity":1}]}"#.utf8)
                            guard let r = try? client.request("POST", "/v1/orders", headers: [("Content-Type", "application/json")],
                                                              body: body, timeout: 5) else { return }  // the daemon died
                            if (200..<300).contains(r.status), let t = try? r.decode(TicketBody.self) {
                                burst.acknowledged.withLock { $0.append(t.ticket) }
                            }
                        }
                    }
                }
            }
            // Kill once the burst is well under way and cooks are busy.
            let deadline = Deadline(seconds: 30)
            while burst.acknowledged.withLock({ $0.count }) < 150, !deadline.hasPassed {
                try await Task.sleep(for: .milliseconds(5))  // a poll interval with a deadline, not synchronisation
            }
            first.process.signal(SIGKILL)
            burst.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        let killed = try await first.process.waitForExit(timeout: 10)
        #expect(killed?.bySignal == true, "\(killed.map(\.description) ?? "still running")")
        let tickets = burst.acknowledged.withLock { $0 }
        #expect(tickets.count >= 150)

        let second = try await EndToEndTests.start(in: dir, cooks: 4, config: Self.config)
        defer { second.process.terminate(grace: 5) }
        let deadline = Deadline(seconds: 90)
        var outcomes: [String: Int] = [:]
        for ticket in tickets {
            let final = try await Self.driveToFinal(second.client, ticket, deadline: deadline)
            outcomes[final, default: 0] += 1
        }
        #expect(outcomes == ["picked_up": tickets.count], "\(outcomes)")
        try await EndToEndTests.stopCleanly(second)
        #expect(try await Self.integrityCheck(dir.path("t.db"), in: dir) == "ok")
    }

    @Test("SIGTERM with orders queued and cooking: exit 0 within the grace period, nothing lost, all complete after restart")
    func sigtermWithQueueAndCooking() async throws {
        let dir = try ScratchDirectory("term")
        defer { dir.remove() }
        let first = try await EndToEndTests.start(in: dir, cooks: 2, config: Self.config)
        defer { first.process.terminate(grace: 2) }
        var tickets: [String] = []
        for _ in 0..<10 {
            let placed: TicketBody = try await first.client.placeOrder([("stew", 8)]).decode()
            tickets.append(placed.ticket)
        }
        // Wait until both cooks are cooking (two orders in `cooking`).
        let deadline = Deadline(seconds: 10)
        var cooking = 0
        while cooking < 2, !deadline.hasPassed {
            cooking = 0
            for t in tickets {
                let b: TicketBody = try await first.client.get("/v1/tickets/\(t)").decode()
                if b.status == "cooking" { cooking += 1 }
            }
        }
        #expect(cooking == 2)
        let signalled = ContinuousClock.now
        first.process.signal(SIGTERM)
        let status = try await first.process.waitForExit(timeout: 10)
        let took = ContinuousClock.now - signalled
        #expect(status?.isCleanExit == true, "\(status.map(\.description) ?? "still running")\n\(first.process.log)")
        // Grace 1 s, plus draining: well under the unit's TimeoutStopSec.
        #expect(took < .seconds(5), "stopping took \(took)")
        #expect(first.process.stderr.text.contains("handed back"), "\(first.process.log)")

        let second = try await EndToEndTests.start(in: dir, cooks: 4, config: Self.config)
        defer { second.process.terminate(grace: 5) }
        let finish = Deadline(seconds: 60)
        for t in tickets {
            #expect(try await Self.driveToFinal(second.client, t, deadline: finish) == "picked_up")
        }
        try await EndToEndTests.stopCleanly(second)
        #expect(try await Self.integrityCheck(dir.path("t.db"), in: dir) == "ok")
    }

    @Test("SIGHUP reloads the menu; a bad file is refused and the running menu stays")
    func sighupReload() async throws {
        let dir = try ScratchDirectory("hup")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 1, config: "menu: [{item: tea, cook_seconds: 0}]\n")
        defer { daemon.process.terminate(grace: 5) }
        let client = daemon.client
        func menu() async throws -> String { try await client.get("/v1/menu").text }
        #expect(try await menu().contains("\"tea\""))
        #expect(try await client.placeOrder([("coffee", 1)]).status == 422)

        try dir.write("ticketd.yaml", "menu: [{item: coffee, cook_seconds: 0}, {item: tea, cook_seconds: 0}]\n")
        daemon.process.signal(SIGHUP)
        let reloaded = try await onThread {
            daemon.process.stderr.wait(timeout: 10) { $0.contains("configuration reloaded") ? true : nil }
        }
        #expect(reloaded == true, "\(daemon.process.log)")
        #expect(try await menu().contains("\"coffee\""))
        let placed = try await client.placeOrder([("coffee", 1)])
        #expect(placed.status == 202, "\(placed)")
        #expect(try await client.get("/openapi.json").text.contains("\"coffee\""))

        try dir.write("ticketd.yaml", "menu: [{item: coffee, cook_seconds: -1}]\n")
        daemon.process.signal(SIGHUP)
        let refused = try await onThread {
            daemon.process.stderr.wait(timeout: 10) { $0.contains("reload refused") ? true : nil }
        }
        #expect(refused == true, "\(daemon.process.log)")
        #expect(daemon.process.stderr.text.contains("menu[0].cook_seconds"))
        #expect(try await menu().contains("\"tea\""))
        #expect(try await client.get("/readyz").status == 200)
        try await EndToEndTests.stopCleanly(daemon)
    }
}

/// What the placing clients share.
final class Burst: Sendable {
    let acknowledged = Mutex<[String]>([])
    let stop = Atomic<Bool>(false)
}
