import Foundation
import Testing
import TicketCore
import TicketKitchen
import TicketStore
import TicketTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Command cooking", .timeLimit(.minutes(1)))
struct CommandTests {
    @Test("a failing command is retried with backoff, then the order fails with its error kept")
    func retriesThenFails() async throws {
        let handler = KitchenSettings.HandlerKind.command(argv: ["/bin/sh", "-c", "echo boom >&2; exit 3"], timeoutSeconds: 5)
        let retry = RetryPolicy(maxAttempts: 3, baseSeconds: 0.05, maxSeconds: 0.2)
        try await withKitchen(store: StoreSettings(retry: retry), kitchen: KitchenSettings(cooks: 1, handler: handler)) { env in
            let placed = try await env.place()
            let failed = try await env.waitForStatus(placed.id, .failed)
            #expect(failed.attempts == 3)
            #expect(failed.maxAttempts == 3)
            let lastError = try #require(failed.lastError)
            #expect(lastError.contains("exited with status 3"), "last error: \(lastError)")
            #expect(lastError.contains("boom"), "last error: \(lastError)")
            #expect(failed.finishedAt != nil)
            #expect(failed.leaseOwner == nil && failed.leaseExpiresAt == nil)

            let events = try await env.events(placed.id)
            let transitions = events.map { "\($0.from?.rawValue ?? "-")>\($0.to.rawValue)" }
            #expect(transitions == ["->queued",
                                    "queued>cooking", "cooking>queued",
                                    "queued>cooking", "cooking>queued",
                                    "queued>cooking", "cooking>failed"])
            guard transitions.count == 7 else { return }

            // Backoff: each re-claim comes no earlier than the available_at the failure set
            // (the failure's time plus the delay its detail names).
            // Full jitter: the n-th retry waits within [c/2, c], c = min(max, base·2^(n-1)).
            for (failure, reclaim, ceiling) in [(events[2], events[3], 50), (events[4], events[5], 100)] {
                let detail = failure.detail ?? ""
                let delay = try #require(retryDelayMilliseconds(detail), "no delay in '\(detail)'")
                #expect(delay >= ceiling / 2 && delay <= ceiling, "delay \(delay) ms outside [\(ceiling / 2), \(ceiling)]")
                let availableAt = failure.at.milliseconds + Int64(delay)
                #expect(reclaim.at.milliseconds >= availableAt,
                        "re-claimed at \(reclaim.at), before its available_at \(Timestamp(milliseconds: availableAt))")
                #expect(detail.contains("boom"))
            }
            #expect(events[6].detail?.contains("no retry") == true)
        }
    }

    @Test("a successful command gets the order JSON on stdin and the ticket in its environment")
    func commandSucceeds() async throws {
        try await withTemporaryDirectory { out in
            let input = out.appendingPathComponent("in.json").path
            let envFile = out.appendingPathComponent("env").path
            let script = "cat > '\(input)'; echo \"$TICKETD_TICKET $TICKETD_NUMBER $TICKETD_ORDER_ID\" > '\(envFile)'"
            let handler = KitchenSettings.HandlerKind.command(argv: ["/bin/sh", "-c", script], timeoutSeconds: 10)
            try await withKitchen(kitchen: KitchenSettings(cooks: 1, handler: handler)) { env in
                let placed = try await env.store.place(NewOrder(
                    items: [OrderLine(item: "cheeseburger", quantity: 2), OrderLine(item: "cola", quantity: 1)],
                    customer: "Ana", note: "no onions", priority: .rush, cookSeconds: 8.5)).order
                let ready = try await env.waitForStatus(placed.id, .ready)
                #expect(ready.attempts == 1)
                #expect(ready.lastError == nil)

                struct Payload: Decodable {
                    var id: Int64
                    var ticket: String
                    var number: Int
                    var priority: String
                    var items: [OrderLine]
                    var customer: String?
                    var note: String?
                    var attempt: Int
                    var max_attempts: Int
                    var cook_seconds: Double
                    var created_at: String
                }
                let data = try Data(contentsOf: URL(fileURLWithPath: input))
                let payload = try JSONDecoder().decode(Payload.self, from: data)
                #expect(payload.id == placed.id)
                #expect(payload.ticket == placed.ticket)
                #expect(payload.number == placed.number)
                #expect(payload.priority == "rush")
                #expect(payload.items == [OrderLine(item: "cheeseburger", quantity: 2), OrderLine(item: "cola", quantity: 1)])
                #expect(payload.customer == "Ana")
                #expect(payload.note == "no onions")
                #expect(payload.attempt == 1)
                #expect(payload.max_attempts == 3)
                #expect(payload.cook_seconds == 8.5)
                #expect(payload.created_at == placed.createdAt.rfc3339)

                let envLine = try String(contentsOfFile: envFile, encoding: .utf8)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(envLine == "\(placed.ticket) \(placed.number) \(placed.id)")
            }
        }
    }

    @Test("a command that exits without reading its input is judged by its exit status (no SIGPIPE)")
    func commandIgnoresInput() async throws {
        // The note makes the order JSON larger than a pipe's buffer, so writing it must meet the
        // closed pipe: without care that is SIGPIPE, which ends the whole process.
        let script = "exec 0<&-; case \"$TICKETD_NUMBER\" in 1) exit 0;; *) echo refused >&2; exit 4;; esac"
        let handler = KitchenSettings.HandlerKind.command(argv: ["/bin/sh", "-c", script], timeoutSeconds: 10)
        let retry = RetryPolicy(maxAttempts: 1, baseSeconds: 0.05, maxSeconds: 0.2)
        try await withKitchen(store: StoreSettings(retry: retry), kitchen: KitchenSettings(cooks: 2, handler: handler)) { env in
            let big = String(repeating: "x", count: 200_000)
            let lines = [OrderLine(item: "fries", quantity: 1)]
            let ok = try await env.store.place(NewOrder(items: lines, note: big)).order
            let refused = try await env.store.place(NewOrder(items: lines, note: big)).order
            #expect(ok.number == 1 && refused.number == 2)
            let ready = try await env.waitForStatus(ok.id, .ready)
            #expect(ready.lastError == nil)
            let failed = try await env.waitForStatus(refused.id, .failed)
            let lastError = try #require(failed.lastError)
            #expect(lastError.contains("exited with status 4"), "last error: \(lastError)")
            #expect(lastError.contains("refused"), "last error: \(lastError)")
        }
    }

    @Test("a command that cannot be started fails the attempt with the reason")
    func commandCannotRun() async throws {
        let handler = KitchenSettings.HandlerKind.command(argv: ["/nonexistent/ticketd-cook"], timeoutSeconds: 5)
        let retry = RetryPolicy(maxAttempts: 1, baseSeconds: 0.05, maxSeconds: 0.2)
        try await withKitchen(store: StoreSettings(retry: retry), kitchen: KitchenSettings(cooks: 1, handler: handler)) { env in
            let placed = try await env.place()
            let failed = try await env.waitForStatus(placed.id, .failed)
            let lastError = try #require(failed.lastError)
            #expect(lastError.contains("/nonexistent/ticketd-cook could not run"), "last error: \(lastError)")
        }
    }

    @Test("a command past its timeout is killed with what it started, and the attempt fails")
    func timeoutKillsProcessGroup() async throws {
        try await withTemporaryDirectory { out in
            let shellPID = out.appendingPathComponent("shell.pid").path
            let childPID = out.appendingPathComponent("child.pid").path
            let script = "echo $$ > '\(shellPID)'; sleep 300 & echo $! > '\(childPID)'; sleep 300"
            let handler = KitchenSettings.HandlerKind.command(argv: ["/bin/sh", "-c", script], timeoutSeconds: 0.5)
            let retry = RetryPolicy(maxAttempts: 1, baseSeconds: 0.05, maxSeconds: 0.2)
            try await withKitchen(store: StoreSettings(retry: retry), kitchen: KitchenSettings(cooks: 1, handler: handler)) { env in
                let placed = try await env.place()
                let failed = try await env.waitForStatus(placed.id, .failed)
                let lastError = try #require(failed.lastError)
                #expect(lastError.contains("timed out"), "last error: \(lastError)")
                #expect(failed.attempts == 1)
                let cookingAt = try #require(failed.cookingAt)
                let finishedAt = try #require(failed.finishedAt)
                let ran = finishedAt.milliseconds - cookingAt.milliseconds
                // Killed, not left to its 300 s sleep; the upper bound leaves room for a machine
                // running every suite at once (5 s was once exceeded there, never alone).
                #expect(ran >= 500 && ran < 30_000, "the attempt ran \(ran) ms for a 0.5 s timeout")

                let shell = try readPID(shellPID)
                let child = try readPID(childPID)
                #expect(shell != child)
                try await waitUntil("the timed-out shell (pid \(shell)) to be gone", timeout: .seconds(5)) { !isRunning(shell) }
                try await waitUntil("its background sleep (pid \(child)) to be gone", timeout: .seconds(5)) { !isRunning(child) }
            }
        }
    }
}

/// "attempt 1 failed, retry in 37 ms: ..." → 37
func retryDelayMilliseconds(_ detail: String) -> Int? {
    guard let range = detail.range(of: "retry in ") else { return nil }
    return Int(detail[range.upperBound...].prefix { $0.isNumber })
}

func readPID(_ path: String) throws -> pid_t {
    let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    return try #require(pid_t(text), "no pid in \(path): '\(text)'")
}

/// Whether `pid` is a running process. `kill(pid, 0)` failing with ESRCH means it is gone. A
/// zombie also counts as gone: it runs nothing, and whether it is reaped depends on who adopts
/// orphans (in some containers PID 1 never reaps them).
func isRunning(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 {
        return errno != ESRCH
    }
    #if os(Linux)
    if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
       let close = stat.lastIndex(of: ")") {
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        if state == "Z" || state == "X" { return false }
    }
    #endif
    return true
}
