import Foundation
import Synchronization
import Testing

/// `ticketd backup --to PATH` while the daemon takes a burst of orders.
@Suite("Online backup", .serialized, .timeLimit(.minutes(3)))
struct BackupTests {
    @Test("a backup taken during a burst of placements passes integrity_check and holds every order acknowledged before it began")
    func backupDuringBurst() async throws {
        let dir = try ScratchDirectory("backup")
        defer { dir.remove() }
        let daemon = try await EndToEndTests.start(in: dir, cooks: 2)
        defer { daemon.process.terminate(grace: 2) }
        let burst = Burst()
        let client = daemon.client
        let (beforeBackup, result) = try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await onThread {
                        while !burst.stop.load(ordering: .relaxed) {
                            let body = Array(#"{"items":[{"item":"cola","quantity":1}]}"#.utf8)
                            let r = try client.request("POST", "/v1/orders", headers: [("Content-Type", "application/json")],
                                                       body: body, timeout: 10)
                            if r.status == 202, let t = try? r.decode(TicketBody.self) {
                                burst.acknowledged.withLock { $0.append(t.ticket) }
                            }
                        }
                    }
                }
            }
            try await waitUntilTrue("a burst under way", timeout: 20) { burst.acknowledged.withLock { $0.count } >= 200 }
            // Everything acknowledged by now must be in the copy.
            let before = burst.acknowledged.withLock { $0 }
            let result = try await runTicketd(["backup", "--db", dir.path("t.db"), "--to", dir.path("copy.db")], in: dir.url)
            try await waitUntilTrue("more placements after the backup", timeout: 20) {
                burst.acknowledged.withLock { $0.count } >= before.count + 100
            }
            burst.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
            return (before, result)
        }
        #expect(result.status.isCleanExit, "\(result)")
        #expect(result.stdout.contains("integrity ok"), "\(result)")
        #expect(try await CrashRecoveryTests.integrityCheck(dir.path("copy.db"), in: dir) == "ok")
        let stored = try await runProgram("/usr/bin/sqlite3", ["-readonly", dir.path("copy.db"), "SELECT ticket FROM orders"], in: dir.url)
        let inCopy = Set(stored.stdout.split(separator: "\n").map(String.init))
        let missing = beforeBackup.filter { !inCopy.contains($0) }
        #expect(missing.isEmpty, "\(missing.count) of \(beforeBackup.count) acknowledged orders are missing from the copy")
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: dir.path("copy.db-wal"))[.size] as? Int) ?? 0
        #expect(walBytes == 0, "the copy is one file")

        // A second backup to the same path is refused and leaves the first alone.
        let again = try await runTicketd(["backup", "--db", dir.path("t.db"), "--to", dir.path("copy.db")], in: dir.url)
        #expect(!again.status.isCleanExit && again.stderr.contains("exists already"), "\(again)")
        try await EndToEndTests.stopCleanly(daemon)
    }
}
