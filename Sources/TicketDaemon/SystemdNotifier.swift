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
