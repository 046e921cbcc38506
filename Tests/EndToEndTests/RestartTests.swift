import Foundation
import Testing

/// Restarts that refuse no one: the listening socket held as systemd's `ticketd.socket` holds
/// it (scripts/restarts.d/restarts.py binds it, and starts each daemon with it as descriptor 3,
/// `LISTEN_FDS=1` and `LISTEN_PID` set, as systemd does), ten restarts under a steady load of
/// placements on fresh connections.
@Suite("Restarts under socket activation", .serialized, .timeLimit(.minutes(3)))
struct RestartTests {
    @Test("ten restarts under steady load: no connection error, no answer outside 2xx, every acknowledged order kept")
    func tenRestartsUnderLoad() async throws {
        let binary = try TicketdBinary.require()
        let script = packageRoot.appendingPathComponent("scripts/restarts.d/restarts.py").path
        let dir = try ScratchDirectory("restarts")
        defer { dir.remove() }
        let result = try await runProgram("/usr/bin/env", ["python3", script, "--binary", binary.path, "--restarts", "10",
                                                                "--rate", "600", "--between", "0.5"],
                                          in: dir.url, timeout: 170)
        func figure(_ name: String) -> Double? {
            result.stdout.split(separator: "\n").first { $0.hasPrefix(name + "=") }
                .flatMap { Double($0.dropFirst(name.count + 1)) }
        }
        #expect(result.status.isCleanExit, "\(result)")
        #expect(figure("restarts_done") == 10, "\(result)")
        #expect(figure("restarts_connection_errors") == 0, "\(result)")
        #expect(figure("restarts_non_2xx") == 0, "\(result)")
        #expect(figure("restarts_acknowledged_missing") == 0, "\(result)")
        #expect((figure("restarts_acknowledged") ?? 0) > 500, "\(result)")
    }
}
