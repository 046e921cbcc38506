import Foundation

/// One daemon per SQLite database: an exclusive `flock` on a file beside the database
/// (`<database>.lock`), held for the life of the process. The kernel drops the lock when the
/// process ends, however it ends (`kill -9` included), so a stale file never blocks a restart.
///
/// `serve` and `migrate` take it; read-only commands do not. A second `serve` on the same database
/// is refused at start, before it touches the database: two writers would hand back each other's
/// orders as abandoned and claim the same queue with two notions of "this run".
public final class InstanceLock: Sendable {
    /// The lock file's path.
    public let path: String
    private let descriptor: Int32

    /// Why the lock could not be taken.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Another process holds it (its pid, if it wrote one).
        case held(path: String, database: String, pid: Int?)
        case cannotOpen(path: String, reason: String)

        public var description: String {
            switch self {
            case let .held(path, database, pid):
                let who = pid.map { "another ticketd (pid \($0))" } ?? "another ticketd"
                return "\(who) is already serving \(database): it holds the lock \(path); "
                    + "stop it first, or give this one another database (--db)"
            case let .cannotOpen(path, reason):
                return "cannot open the lock file \(path): \(reason)"
            }
        }
    }

    /// The lock file of `database`.
    public static func path(forDatabase database: String) -> String { database + ".lock" }

    /// Takes the lock of `database` without waiting. Throws `Failure.held` when another process
    /// holds it. The file keeps the holder's pid, for the message a second daemon prints.
    public init(database: String) throws(Failure) {
        let path = Self.path(forDatabase: database)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let pid = Self.readPID(fd)
            close(fd)
            if error == EWOULDBLOCK || error == EAGAIN {
                throw .held(path: path, database: database, pid: pid)
            }
            throw .cannotOpen(path: path, reason: String(cString: strerror(error)))
        }
        // The holder's pid, for the message a refused daemon prints (advisory only: the lock is
        // the flock, not the file's content).
        let text = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 {
            _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        self.path = path
        self.descriptor = fd
    }

    deinit { close(descriptor) }

    private static func readPID(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
