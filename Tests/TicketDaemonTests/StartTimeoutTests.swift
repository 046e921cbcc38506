import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TicketDaemon

/// While the store opens (and migrates), the daemon asks systemd for more start time.
@Suite("Start timeout extension", .timeLimit(.minutes(1)))
struct StartTimeoutTests {
    @Test("EXTEND_TIMEOUT_USEC is sent to NOTIFY_SOCKET at each interval until stop()")
    func extendsUntilStopped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ticketd-extend-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("notify.sock").path
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        /// The next datagram within `milliseconds`, or nil.
        func receive(within milliseconds: Int32) -> String? {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, milliseconds) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
        }

        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        let extender = StartTimeoutExtender(notifier: notifier, status: "migrating", every: .milliseconds(50))
        var seen: [String] = []
        while seen.count < 2, let message = receive(within: 5_000) { seen.append(message) }
        extender.stop()
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0.contains("EXTEND_TIMEOUT_USEC=20000000") && $0.contains("STATUS=migrating") })
        // Stopped: what was in flight is drained, then nothing more comes (ten intervals).
        while receive(within: 100) != nil {}
        #expect(receive(within: 500) == nil)
    }
}
