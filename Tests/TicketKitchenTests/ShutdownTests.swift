import Foundation
import Testing
import TicketCore
import TicketKitchen
import TicketStore
import TicketTestSupport

@Suite("Shutdown", .timeLimit(.minutes(1)))
struct ShutdownTests {
    @Test("graceful shutdown hands unfinished orders back after the grace period")
    func handBackAtShutdown() async throws {
        try await withKitchen(kitchen: KitchenSettings(cooks: 2, shutdownGraceSeconds: 0.3),
                              handler: SlowHandler(seconds: 30)) { env in
            let first = try await env.place()
            let second = try await env.place()
            let waiting = try await env.place()
            try await env.waitForStatus(first.id, .cooking)
            try await env.waitForStatus(second.id, .cooking)
            try await waitUntil("both cooks to be cooking") { env.kitchen.busyCooks == 2 }

            let took = try await env.stopKitchen(timeout: .seconds(10))
            #expect(took < .seconds(2), "the kitchen took \(took) to stop with a 0.3 s grace period")
            #expect(took >= .milliseconds(250), "unfinished orders are handed back only after the grace period (\(took))")
            #expect(env.kitchen.busyCooks == 0)

            for o in [first, second] {
                let back = try await env.order(o.id)
                #expect(back.status == .queued)
                #expect(back.attempts == 1, "the handed-back attempt stays counted")
                #expect(back.leaseOwner == nil && back.cookingAt == nil)
                let last = try #require(try await env.events(o.id).last)
                #expect(last.from == .cooking && last.to == .queued)
                #expect(last.detail?.contains("handed back") == true, "detail: \(last.detail ?? "nil")")
            }
            let untouched = try await env.order(waiting.id)
            #expect(untouched.status == .queued)
            #expect(untouched.attempts == 0)
            #expect(try await env.events(waiting.id).count == 1)
        }
    }

    @Test("an order that finishes within the grace period is marked ready, and the kitchen stops without waiting out the grace")
    func finishWithinGrace() async throws {
        let handler = ConcurrencyHandler()
        try await withKitchen(kitchen: KitchenSettings(cooks: 1, shutdownGraceSeconds: 20), handler: handler) { env in
            let placed = try await env.place()
            let queued = try await env.place()
            try await waitUntil("the cook to be cooking") { handler.inside == 1 }
            let start = ContinuousClock.now
            env.kitchen.beginShutdown()
            handler.release()
            try await waitUntil("the kitchen to stop", timeout: .seconds(10)) { env.returned.isOpen }
            #expect(ContinuousClock.now - start < .seconds(5))
            let done = try await env.order(placed.id)
            #expect(done.status == .ready)
            let other = try await env.order(queued.id)
            #expect(other.status == .queued, "no claims after shutdown began")
            #expect(other.attempts == 0)
        }
    }

    @Test("shutdown hands back an order whose command is still running, and kills the command's processes")
    func handBackKillsCommand() async throws {
        try await withTemporaryDirectory { out in
            let shellPID = out.appendingPathComponent("shell.pid").path
            let childPID = out.appendingPathComponent("child.pid").path
            let script = "echo $$ > '\(shellPID)'; sleep 300 & echo $! > '\(childPID)'; wait"
            let handler = KitchenSettings.HandlerKind.command(argv: ["/bin/sh", "-c", script], timeoutSeconds: 60)
            try await withKitchen(kitchen: KitchenSettings(cooks: 1, handler: handler, shutdownGraceSeconds: 0.2)) { env in
                let placed = try await env.place()
                try await env.waitForStatus(placed.id, .cooking)
                try await waitUntil("the command to start its background child") {
                    ((try? String(contentsOfFile: childPID, encoding: .utf8)) ?? "").hasSuffix("\n")
                }
                let took = try await env.stopKitchen()
                #expect(took < .seconds(3), "the kitchen took \(took) to stop")
                let back = try await env.order(placed.id)
                #expect(back.status == .queued)
                #expect(back.lastError == nil, "a hand-back is not a failure")
                let last = try #require(try await env.events(placed.id).last)
                #expect(last.detail?.contains("handed back") == true, "detail: \(last.detail ?? "nil")")
                for pid in [try readPID(shellPID), try readPID(childPID)] {
                    try await waitUntil("process \(pid) to be gone", timeout: .seconds(5)) { !isRunning(pid) }
                }
            }
        }
    }
}
