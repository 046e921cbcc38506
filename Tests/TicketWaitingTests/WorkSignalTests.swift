import Testing
import TicketWaiting

/// The change feed's "work is available" signal: a deadline or a cancellation ends a wait.
@Suite("Work signal", .timeLimit(.minutes(1)))
struct WorkSignalTests {
    @Test("waitForWork returns at the deadline when nothing happens")
    func workDeadline() async throws {
        let notifier = ChangeFeed()
        let epoch = notifier.workEpoch
        let start = ContinuousClock.now
        await notifier.waitForWork(after: epoch, until: start + .milliseconds(300))
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(300))
        #expect(elapsed < .seconds(10))
        #expect(notifier.workEpoch == epoch)
    }

    @Test("waitForWork returns on cancellation")
    func workCancelled() async throws {
        let notifier = ChangeFeed()
        let epoch = notifier.workEpoch
        let start = ContinuousClock.now
        let waiter = Task { await notifier.waitForWork(after: epoch, until: .now + .seconds(50)) }
        waiter.cancel()
        await waiter.value
        #expect(ContinuousClock.now - start < .seconds(10))
    }
}
