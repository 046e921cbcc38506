import Testing
import TicketDaemon

/// The start-up check of the open-file limit against `max_connections`.
@Suite("Open-file budget")
struct OpenFileBudgetTests {
    /// A hard open-file limit of 20,000 is common; the defaults once asked for 25,000
    /// connections and so warned at every start on such a machine.
    @Test("the default configuration fits a hard open-file limit of 20,000: no warning at start")
    func defaultsFitCommonLimit() {
        let config = DaemonConfiguration()
        #expect(OpenFileBudget.fits(limit: 20_000, maxConnections: config.maxConnections),
                "max_connections \(config.maxConnections) needs \(OpenFileBudget.needed(maxConnections: config.maxConnections))")
    }

    @Test("waiters hold connections: the default max_waiters is below the default max_connections")
    func waitersWithinConnections() {
        let config = DaemonConfiguration()
        #expect(config.maxWaiters < config.maxConnections)
    }

    @Test("a limit below max_connections plus the reserve is short; one at it fits", arguments: [
        (UInt64(1024), 16_000, false), (UInt64(16_255), 16_000, false), (UInt64(16_256), 16_000, true),
        (UInt64(20_000), 25_000, false), (UInt64(65_536), 25_000, true), (UInt64(300), 1, true), (UInt64(256), 1, false),
    ])
    func threshold(_ limit: UInt64, _ maxConnections: Int, _ fits: Bool) {
        #expect(OpenFileBudget.fits(limit: limit, maxConnections: maxConnections) == fits)
        #expect(OpenFileBudget.needed(maxConnections: maxConnections) == UInt64(maxConnections) + OpenFileBudget.reserve)
    }
}
