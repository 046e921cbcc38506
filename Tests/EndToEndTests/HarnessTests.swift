import Foundation
import Testing
import TicketTestSupport

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

    /// A child that closes nothing it inherits (spawned here with no file actions, as a daemon
    /// started by another test at the wrong instant would be) keeps no copy of a harness pipe:
    /// once the parent closes its write end, the reader sees the end at once, while the child runs.
    @Test("a harness pipe is not inherited by a child that closes nothing: its reader sees the end while the child runs")
    func pipesAreCloseOnExec() async throws {
        let pipe = Spawning.pipe()
        let write = pipe.fileHandleForWriting.fileDescriptor
        #expect(fcntl(write, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pipe.fileHandleForReading.fileDescriptor, F_GETFD) & FD_CLOEXEC != 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sleep", "30"].map { (s: String) in strdup(s) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0)
        defer {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        try pipe.fileHandleForWriting.close()
        let reader = pipe.fileHandleForReading.fileDescriptor
        let ended = try await onThread { () -> Bool in
            var poller = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 5_000) == 1 else { return false }
            var byte: UInt8 = 0
            return read(reader, &byte, 1) == 0
        }
        withExtendedLifetime(pipe) {}  // the read end stays open (and ours) until here
        #expect(ended, "the pipe did not end while a child that closes nothing ran")
        #expect(kill(pid, 0) == 0, "the child was not running when the end was read")
    }
}
