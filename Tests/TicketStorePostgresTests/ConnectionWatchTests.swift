import PostgresNIO
import Testing
import TicketTestSupport
@testable import TicketStorePostgres

/// The watchdogs read the clock once, then look at each use under its lock: a use that started
/// in between has a start later than that reading. CI saw the result: a lookup answered 503 "a
/// database query ran past 30 s" in a test that had run for 3 s, its healthy connection closed.
@Suite("PostgreSQL: the watchdog's clock", .timeLimit(.minutes(1)))
struct ConnectionWatchTests {
    let rules = ConnectionWatch.Rules(lease: .seconds(5), run: .seconds(30), grace: .seconds(1),
                                      lost: "lost", overrun: "overrun")

    @Test("a use waiting for a connection that started after the watchdog read the clock is not given up")
    func waitingStartedAfterReading() {
        var watch = ConnectionWatch()
        #expect(watch.verdict(now: watch.started &- 1_000, rules) == nil)
        #expect(watch.verdict(now: watch.started + 4_000_000_000, rules) == nil)
        #expect(watch.verdict(now: watch.started + 5_000_000_000, rules)?.0 == "no database connection within 5.0 seconds")
    }

    @Test("a use on a live connection that started after the watchdog read the clock is not overrun; one past the limit is")
    func runningStartedAfterReading() async throws {
        try await withPostgresStore(try await PostgresTestDatabase.fresh()) { store in
            try await store.pool.withConnection { connection in
                var watch = ConnectionWatch()
                watch.attach(connection)
                #expect(watch.verdict(now: watch.started &- 1_000, rules) == nil)
                #expect(watch.verdict(now: watch.started + 29_000_000_000, rules) == nil)
                let past = watch.verdict(now: watch.started + 30_000_000_000, rules)
                #expect(past?.0 == "overrun")
                #expect(past?.1 === connection)
            }
        }
    }
}
