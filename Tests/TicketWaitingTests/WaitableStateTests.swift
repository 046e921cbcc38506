import Synchronization
import Testing
@testable import TicketWaiting
import TicketTestSupport

/// The one waiting primitive: a wait ends when its check finds what it looks for (at once, or
/// after an update), at its deadline, or on cancellation; never twice, and never a waiter whose
/// check does not hold.
@Suite("WaitableState", .timeLimit(.minutes(1)))
struct WaitableStateTests {
    static let never = ContinuousClock.now + .seconds(3600)

    @Test("a check that holds now returns at once, without registering")
    func immediate() async {
        let state = WaitableState(5, timer: DeadlineTimer())
        let outcome = await state.wait(until: Self.never) { $0 > 3 ? $0 : nil }
        #expect(outcome.value == 5)
        #expect(state.waiterCount == 0)
    }

    @Test("an update wakes exactly the waiters whose check now holds, with what the check took")
    func updateWakesMatching() async throws {
        let timer = DeadlineTimer()
        let state = WaitableState<[Int]>([], timer: timer)
        // Each waiter takes the first element at or above its threshold out of the state.
        async let low = state.wait(until: Self.never) { s -> Int? in
            guard let i = s.firstIndex(where: { $0 >= 10 }) else { return nil }
            return s.remove(at: i)
        }
        async let high = state.wait(until: Self.never) { s -> Int? in
            guard let i = s.firstIndex(where: { $0 >= 100 }) else { return nil }
            return s.remove(at: i)
        }
        try await waitUntil("both to wait") { state.waiterCount == 2 && timer.count == 2 }
        state.update { $0.append(1) }
        #expect(state.waiterCount == 2, "nothing matched")
        state.update { $0.append(50) }
        #expect(await low.value == 50)
        #expect(state.waiterCount == 1)
        state.update { $0.append(500) }
        #expect(await high.value == 500)
        #expect(state.read { $0 } == [1], "what the checks took is gone")
        #expect(timer.count == 0, "deadlines are cancelled with their waits")
    }

    @Test("the deadline ends a wait whose check never holds")
    func deadline() async {
        let state = WaitableState(false, timer: DeadlineTimer())
        let start = ContinuousClock.now
        let outcome = await state.wait(until: start + .milliseconds(200)) { $0 ? () : nil }
        guard case .timedOut = outcome else {
            Issue.record("expected a timeout, got \(outcome)")
            return
        }
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        #expect(state.waiterCount == 0)
    }

    @Test("cancellation ends a cancellable wait; a non-cancellable one waits for its value")
    func cancellation() async throws {
        let state = WaitableState(0, timer: DeadlineTimer())
        let cancellable = Task { await state.wait(until: Self.never) { $0 > 0 ? $0 : nil } }
        try await waitUntil("the wait to register") { state.waiterCount == 1 }
        cancellable.cancel()
        guard case .cancelled = await cancellable.value else {
            Issue.record("a cancelled wait ends as cancelled")
            return
        }
        let stubborn = Task { await state.wait(cancellable: false) { $0 > 0 ? $0 : nil } }
        try await waitUntil("the wait to register") { state.waiterCount == 1 }
        stubborn.cancel()
        #expect(state.waiterCount == 1, "still waiting after cancellation")
        state.update { $0 = 7 }
        #expect(await stubborn.value.value == 7)
    }

    @Test("a task cancelled before it waits does not wait")
    func cancelledBeforeWait() async {
        let state = WaitableState(0, timer: DeadlineTimer())
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await state.wait(until: Self.never) { $0 > 0 ? () : nil }
        }
        guard case .cancelled = await task.value else {
            Issue.record("expected cancelled")
            return
        }
        #expect(state.waiterCount == 0)
    }

    @Test("many waiters and racing updates: every waiter is resumed exactly once")
    func manyWaiters() async throws {
        let state = WaitableState(0, timer: DeadlineTimer())
        let resumed = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...200 {
                group.addTask {
                    _ = await state.wait(until: Self.never) { $0 >= i ? () : nil }
                    resumed.increment()
                }
            }
            try await waitUntil("all to wait") { state.waiterCount + resumed.current == 200 }
            for _ in 1...200 { group.addTask { state.update { $0 += 1 } } }
            try await group.waitForAll()
        }
        #expect(resumed.current == 200)
        #expect(state.read { $0 } == 200)
        #expect(state.waiterCount == 0)
    }

    @Test("Gate and Epoch: a gate opens for waits before and after; an epoch wait sees a signal sent between read and wait")
    func gateAndEpoch() async throws {
        let gate = Gate()
        async let before: Void = gate.wait()
        gate.open()
        await before
        await gate.wait()
        #expect(gate.isOpen)

        let epoch = Epoch()
        let seen = epoch.current
        epoch.advance()  // between the read and the wait
        #expect(await epoch.wait(after: seen, until: Self.never))
        #expect(await epoch.wait(after: epoch.current, until: .now + .milliseconds(50)) == false)
    }
}
