import Foundation
import NIOCore

/// The daemon's listening TCP socket, made before anything else at start: bound and listening
/// (or handed over by systemd), so that a taken port stops the daemon at once with the address
/// in the message, before the database is opened or a cook claims anything.
///
/// With socket activation (`LISTEN_FDS`/`LISTEN_PID`, systemd's protocol), the socket is the one
/// systemd holds: it outlives the process, so connections made during a restart wait in its
/// backlog and are answered by the next process.
public final class ListeningSocket: Sendable {
    /// The descriptor, owned by this object until `HTTPServer` hands it to NIO.
    public let descriptor: Int32
    /// Where it listens, as `host:port` (`[::1]:8080` for IPv6).
    public let address: String
    /// True when systemd passed it in (`LISTEN_FDS`).
    public let inherited: Bool

    /// Why no socket could be had.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    private init(descriptor: Int32, address: String, inherited: Bool) {
        self.descriptor = descriptor
        self.address = address
        self.inherited = inherited
    }

    /// Binds `host:port` and listens with `backlog`. `port` 0 takes a free port (the address
    /// then names the one taken). Throws a `Failure` naming the address.
    public static func bind(host: String, port: Int, backlog: Int32 = 4096) throws(Failure) -> ListeningSocket {
        let named = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let address: SocketAddress
        do {
            address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        } catch {
            throw Failure(description: "cannot listen on \(named): the host does not resolve (\(error))")
        }
        let family = address.protocol.rawValue
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "cannot listen on \(named): \(lastError())") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = address.withSockAddr { sockaddr, size in Glibc.bind(fd, sockaddr, socklen_t(size)) }
        guard bound == 0 else {
            let reason = errno == EADDRINUSE ? "the address is already in use (another ticketd, or another program, listens there)"
                : errno == EADDRNOTAVAIL ? "the address is not one of this machine's"
                : errno == EACCES ? "permission denied (ports below 1024 need privileges)"
                : lastError()
            close(fd)
            throw Failure(description: "cannot listen on \(named): \(reason)")
        }
        guard listen(fd, backlog) == 0 else {
            let reason = lastError()
            close(fd)
            throw Failure(description: "cannot listen on \(named): \(reason)")
        }
        return ListeningSocket(descriptor: fd, address: localAddress(fd) ?? named, inherited: false)
    }

    /// The socket systemd passed in, if this process was started by socket activation:
    /// `LISTEN_PID` is this process and `LISTEN_FDS` ≥ 1 (the first, descriptor 3, is used).
    /// The variables are removed, so that programs started by cooks do not see them.
    public static func fromSystemd(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(Failure) -> ListeningSocket? {
        guard let pidText = environment["LISTEN_PID"], let fdsText = environment["LISTEN_FDS"] else { return nil }
        guard let pid = Int32(pidText), pid == getpid() else { return nil }
        guard let count = Int(fdsText), count >= 1 else {
            throw Failure(description: "LISTEN_FDS=\(fdsText) names no socket")
        }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        let fd: Int32 = 3  // SD_LISTEN_FDS_START
        var type: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0, type == Int32(SOCK_STREAM.rawValue) else {
            throw Failure(description: "the socket systemd passed (descriptor 3) is not a stream socket")
        }
        var accepting: Int32 = 0
        size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0, accepting == 1 else {
            throw Failure(description: "the socket systemd passed (descriptor 3) is not listening")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return ListeningSocket(descriptor: fd, address: localAddress(fd) ?? "the socket from systemd", inherited: true)
    }

    /// Closes the socket if it was never handed to a server (start-up failed later).
    public func closeUnused() {
        close(descriptor)
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }

    /// `host:port` of a bound socket.
    private static func localAddress(_ fd: Int32) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard ok == 0 else { return nil }
        let address: SocketAddress
        switch Int32(storage.ss_family) {
        case AF_INET:
            address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
            }
        case AF_INET6:
            address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
            }
        default:
            return nil
        }
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
