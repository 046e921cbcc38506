#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The sd_notify datagram protocol, without libsystemd: `READY=1`, `STATUS=…`, `WATCHDOG=1`,
/// `RELOADING=1`, `STOPPING=1` sent to `$NOTIFY_SOCKET`. Nothing is sent without it.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        self.socketPath = path
    }

    public var isEnabled: Bool { socketPath != nil }

    /// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any and meant for us.
    public static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let usecText = environment["WATCHDOG_USEC"], let usec = Int64(usecText), usec > 0 else { return nil }
        if let pidText = environment["WATCHDOG_PID"], let pid = Int32(pidText), pid != getpid() { return nil }
        return .microseconds(usec)
    }

    /// Sends `state` (lines like `READY=1`). Returns false if it could not be sent.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        #if canImport(Glibc)
        guard let path = socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(path.utf8)
        // A leading '@' names a socket in the abstract namespace.
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in pathBytes.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { bytes in
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), sa, length)
                }
            }
        }
        return sent == message.count
        #else
        return false
        #endif
    }
}

/// Keeps systemd's start timeout (`TimeoutStartSec`) from running out while the daemon is busy
/// before `READY=1`: every 5 s it asks for 20 s more (`EXTEND_TIMEOUT_USEC`, systemd 236+), until
/// `stop()`. The store's opening runs the migrations, and one that rebuilds tables takes about
/// 18 s per million orders on the benchmark machine; without this, systemd would kill such a
/// start at 30 s and start it again, each time rolling the migration back. It runs on a dispatch
/// timer, not a task: opening the SQLite store holds the calling thread.
public final class StartTimeoutExtender {
    /// Nil without NOTIFY_SOCKET. (A dispatch source released while never resumed is a crash
    /// in libdispatch: one is made only to run.)
    private let timer: (any DispatchSourceTimer)?

    public init(notifier: SystemdNotifier, status: String, every interval: DispatchTimeInterval = .seconds(5)) {
        guard notifier.isEnabled else {
            timer = nil
            return
        }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        self.timer = timer
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler {
            notifier.notify("EXTEND_TIMEOUT_USEC=20000000\nSTATUS=\(status)")
        }
        timer.resume()
    }

    public func stop() { timer?.cancel() }
}
