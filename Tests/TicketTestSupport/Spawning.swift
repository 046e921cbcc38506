import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting child processes from tests that run in parallel, without one child keeping what
/// another test has open.
///
/// Foundation's `Process.run()` on Linux is not enough for that. It closes in the child only the
/// descriptors from 3 up to the highest one open when it builds its list, then spawns: a pipe or
/// socket that another thread creates in between is inherited and kept for as long as the child
/// runs. CI saw a test wait 10 s for the end of a shell's output because a daemon started at that
/// instant held a copy of its pipes; a client socket kept that way would outlive its `close()`.
/// And the child keeps the socket through which Foundation learns of its end, so a process the
/// child leaves behind delays that news. Here the child closes every descriptor from 3 up as it
/// starts (glibc's `posix_spawn_file_actions_addclosefrom_np`), whatever was opened meanwhile,
/// and the pipes made for children are close-on-exec from the start.
public enum Spawning {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The two descriptors of a close-on-exec pipe (read, write).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard makePipe(&fds) == 0 else { throw Failure(description: "pipe(): \(String(cString: strerror(errno)))") }
        for fd in fds {
            let flags = fcntl(fd, F_GETFD)
            _ = fcntl(fd, F_SETFD, (flags >= 0 ? flags : 0) | FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }

    /// Starts `executable` with `arguments` (not counting argv[0]) and exactly `environment`, in
    /// `directory` when given, in a process group of its own. Its standard input, output and error
    /// are the given descriptors (duplicated; the caller still owns them), or /dev/null for nil;
    /// every other descriptor is closed in the child. Returns its pid: the caller reaps it.
    public static func spawn(_ executable: String, _ arguments: [String], environment: [String: String],
                             directory: String? = nil, stdin: Int32? = nil, stdout: Int32? = nil,
                             stderr: Int32? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source, mode) in [(Int32(0), stdin, O_RDONLY), (1, stdout, O_WRONLY), (2, stderr, O_WRONLY)] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", mode, 0)
            }
        }
        closeInheritedDescriptors(&actions)
        if let directory {
            guard let addChdir = addChdir else { throw Failure(description: "this C library cannot set a child's directory") }
            let rc = directory.withCString { addChdir(&actions, $0) }
            guard rc == 0 else { throw Failure(description: "chdir action for \(directory): \(String(cString: strerror(rc)))") }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for e in envp { free(e) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw Failure(description: "cannot run \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Adds "close every descriptor from 3 up" to `actions`: glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Swift's Glibc module does not
    /// declare it), else a close of each descriptor open now.
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let closeFrom, closeFrom(&actions, 3) == 0 { return }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    private static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }
    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), also undeclared in Swift.
    private static let addChdir: AddChdir? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }
}

/// The C library's `pipe`, which `Spawning.pipe()` hides inside the type.
private func makePipe(_ fds: inout [Int32]) -> Int32 { pipe(&fds) }
