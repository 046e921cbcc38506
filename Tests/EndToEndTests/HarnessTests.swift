import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The harness itself: a child's end is seen when it happens, whatever else holds the socket
/// Foundation's `Process` watches for it.
@Suite("Harness", .timeLimit(.minutes(1)))
struct HarnessTests {
    /// The shell leaves a `sleep` running that inherited the socket Foundation passes to its
    /// child (as a PostgreSQL server started beside a test once did): Foundation alone reports
    /// the shell's end only when the sleep ends, 30 s later.
    @Test("a child's end is seen at once while a process it left behind keeps Foundation's socket")
    func endSeenDespiteInheritedSocket() async throws {
        let dir = try ScratchDirectory("harness")
        defer { dir.remove() }
        let started = ContinuousClock.now
        let result = try await runProgram("/bin/sh", ["-c", "sleep 30 >/dev/null 2>&1 & echo $!"], in: dir.url, timeout: 10)
        let elapsed = ContinuousClock.now - started
        let sleeper = Int32(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        if let sleeper, sleeper > 0 { kill(sleeper, SIGKILL) }
        #expect(result.status.isCleanExit, "\(result)")
        #expect(sleeper != nil, "the shell printed no pid: \(result)")
        #expect(elapsed < .seconds(8), "the shell's end was seen after \(elapsed)")
    }
}
