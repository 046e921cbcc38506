import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The C library's `pipe`, which `Spawning.pipe()` hides inside the type.
private func makePipe(_ fds: inout [Int32]) -> Int32 { pipe(&fds) }

/// Starting child processes from tests that run in parallel, without one child keeping another
/// test's pipes.
///
/// On Linux, Foundation's `Process.run()` closes in the child every descriptor from 3 up to the
/// highest one open when it builds its list, then spawns. A pipe that another thread creates in
/// between, numbered above that, is inherited by the child and kept for as long as the child
/// runs: CI saw a test wait 10 s for the end of a shell's output because some daemon started at
/// that instant held a copy. So every pipe a test gives a child is created close-on-exec (the
/// copy the child gets on 0, 1 or 2 is made by `dup2`, which clears the flag), and pipes are
/// created and processes started under one lock, so no harness spawn sees a pipe half made.
public enum Spawning {
    private static let lock = NSLock()

    /// A pipe whose two ends are close-on-exec.
    public static func pipe() -> Pipe {
        lock.withLock {
            let pipe = Pipe()
            closeOnExec(pipe.fileHandleForReading.fileDescriptor)
            closeOnExec(pipe.fileHandleForWriting.fileDescriptor)
            return pipe
        }
    }

    /// The two descriptors of a close-on-exec pipe (read, write), for a test's own
    /// `posix_spawn`; nil when `pipe()` fails.
    public static func pipeDescriptors() -> (read: Int32, write: Int32)? {
        lock.withLock {
            var fds: [Int32] = [0, 0]
            guard makePipe(&fds) == 0 else { return nil }
            closeOnExec(fds[0])
            closeOnExec(fds[1])
            return (fds[0], fds[1])
        }
    }

    /// `process.run()`, never at the same time as another harness spawn or pipe creation.
    public static func run(_ process: Process) throws {
        try lock.withLock { try process.run() }
    }

    private static func closeOnExec(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
    }
}
