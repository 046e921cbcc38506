import Foundation
import Testing
import TicketTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The harness itself: a child's end is seen when it happens, and no child keeps what this
/// process (where many tests run at once) has open.
@Suite("Harness", .timeLimit(.minutes(1)))
struct HarnessTests {
    /// The shell leaves a `sleep` running. Under Foundation's `Process`, the sleep kept the socket
    /// through which Foundation learns of its child's end, and the shell's end was reported only
    /// when the sleep ended, 30 s later.
    @Test("a child's end is seen at once while a process it left behind still runs")
    func endSeenDespiteLeftBehindProcess() async throws {
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

    /// A pipe made by the harness is close-on-exec: a child that closes nothing it inherits
    /// (spawned here with no file actions, as a daemon of another test started at the wrong
    /// instant would be) keeps no copy, so the reader sees the end once the parent closes it.
    @Test("a harness pipe is not inherited by a child that closes nothing: its reader sees the end while the child runs")
    func pipesAreCloseOnExec() async throws {
        let pipe = try Spawning.pipe()
        #expect(fcntl(pipe.write, F_GETFD) & FD_CLOEXEC != 0)
        #expect(fcntl(pipe.read, F_GETFD) & FD_CLOEXEC != 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sleep", "30"].map { (s: String) in strdup(s) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        try #require(posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0)
        defer { Self.killAndReap(pid) }
        close(pipe.write)
        #expect(try await Self.endSeen(pipe.read), "the pipe did not end while a child that closes nothing ran")
        #expect(kill(pid, 0) == 0, "the child was not running when the end was read")
        close(pipe.read)
    }

    /// A child the harness starts closes every descriptor but its standard streams, even one
    /// that is not close-on-exec (another library's socket, a pipe made a moment before).
    @Test("a child started by the harness keeps no descriptor of this process, close-on-exec or not")
    func childrenInheritNothing() async throws {
        let dir = try ScratchDirectory("harness-inherit")
        defer { dir.remove() }
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        #expect(fcntl(fds[1], F_GETFD) & FD_CLOEXEC == 0)
        let child = try ChildProcess("/bin/sleep", ["30"], in: dir.url, environment: [:])
        defer { child.signal(SIGKILL) }
        close(fds[1])
        #expect(try await Self.endSeen(fds[0]), "the child kept a copy of a pipe made before it started")
        #expect(child.exited == nil, "the child was not running when the end was read")
        close(fds[0])
    }

    /// True when `fd` reads its end (no byte) within 5 s.
    static func endSeen(_ fd: Int32) async throws -> Bool {
        try await onThread { () -> Bool in
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 5_000) == 1 else { return false }
            var byte: UInt8 = 0
            return read(fd, &byte, 1) == 0
        }
    }

    static func killAndReap(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
