import Synchronization
import Testing
import TicketCore
@testable import TicketHTTP

/// `LivePacing`: ordinary changes coalesced to one event per interval, urgent ones (a number
/// called) at once while the urgent budget lasts.
@Suite("Live feed pacing", .timeLimit(.minutes(1)))
struct LivePacingTests {
    let pacing = LivePacing(interval: .milliseconds(500), urgentGap: .milliseconds(50), urgentBurst: 2, urgentPerSecond: 2)
    let start = ContinuousClock.now

    func at(_ ms: Int64) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    @Test("an ordinary change waits for the interval; nothing pending waits for the refresh")
    func ordinary() {
        var clock = LivePacing.Clock(lastEvent: start, budget: 2)
        var due = pacing.due(changes: true, urgent: false, clock: &clock, refresh: .seconds(15), now: at(100))
        #expect(!due.now)
        #expect(due.at == at(500))
        due = pacing.due(changes: true, urgent: false, clock: &clock, refresh: .seconds(15), now: at(500))
        #expect(due.now)
        due = pacing.due(changes: false, urgent: false, clock: &clock, refresh: .seconds(15), now: at(600))
        #expect(!due.now)
        #expect(due.at == at(15_000))
    }

    @Test("an urgent change goes out after the short gap while the budget lasts, then waits for it to refill")
    func urgent() {
        var clock = LivePacing.Clock(lastEvent: start, budget: 2)
        var due = pacing.due(changes: true, urgent: true, clock: &clock, refresh: .seconds(15), now: at(10))
        #expect(!due.now)
        #expect(due.at == at(50))
        due = pacing.due(changes: true, urgent: true, clock: &clock, refresh: .seconds(15), now: at(50))
        #expect(due.now)
        clock.lastEvent = at(50)
        due = pacing.due(changes: true, urgent: true, clock: &clock, refresh: .seconds(15), now: at(100))
        #expect(due.now)
        clock.lastEvent = at(100)
        // Two urgent events spent the budget (0.1 left, 0.3 by 200 ms at 2 a second): the third
        // waits 350 ms for the 0.7 still missing.
        due = pacing.due(changes: true, urgent: true, clock: &clock, refresh: .seconds(15), now: at(200))
        #expect(!due.now)
        #expect(due.at == at(550))
        // ...or the ordinary interval, whichever comes first.
        clock.lastEvent = at(200)
        clock.budget = 0
        due = pacing.due(changes: true, urgent: true, clock: &clock, refresh: .seconds(15), now: at(250))
        #expect(due.at <= at(700))
    }

    @Test("without an urgent budget, urgent changes are ordinary")
    func noBudget() {
        let plain = LivePacing(interval: .milliseconds(250))
        var clock = LivePacing.Clock(lastEvent: start, budget: 0)
        let due = plain.due(changes: true, urgent: true, clock: &clock, refresh: .seconds(15), now: at(60))
        #expect(!due.now)
        #expect(due.at == at(250))
    }

    @Test("a feed holds ordinary changes for its interval but sends an urgent one at once")
    func feed() async throws {
        let counter = Mutex(0)
        let feed = LiveFeed(name: "test", now: { Timestamp(milliseconds: 1_000) },
                            pacing: LivePacing(interval: .seconds(30), urgentGap: .milliseconds(20), urgentBurst: 1, urgentPerSecond: 0.1)) {
            let n = counter.withLock { $0 }
            return Array("{\"n\":\(n)}".utf8)
        }
        let producer = Task { await feed.run() }
        defer {
            feed.end()
            producer.cancel()
        }
        let stream = feed.join()
        defer { feed.leave(stream) }
        guard case .send(let first)? = await feed.next(after: 0, stream: stream, until: .now + .seconds(20)) else {
            Issue.record("no first event")
            return
        }
        // An ordinary change: nothing within a second (the interval is 30 s).
        counter.withLock { $0 = 1 }
        feed.changed()
        let held = await feed.next(after: first.generation, stream: stream, until: .now + .seconds(1))
        if case .send = held { Issue.record("an ordinary change went out before its interval") }
        // An urgent one: at once, with everything changed so far.
        counter.withLock { $0 = 2 }
        let asked = ContinuousClock.now
        feed.changed(urgent: true)
        guard case .send(let second)? = await feed.next(after: first.generation, stream: stream, until: .now + .seconds(20)) else {
            Issue.record("no event after an urgent change")
            return
        }
        #expect(ContinuousClock.now - asked < .seconds(15), "the urgent change waited for the interval")
        #expect(String(decoding: second.event.readableBytesView, as: UTF8.self).contains("\"n\":2"))
    }
}
