import Synchronization
import Testing
import TicketCore
@testable import TicketWaiting
import TicketTestSupport

/// `TicketWaiter` (a long poll's wait: one `WaitableState` in the change feed) and the notifier's
/// shared `DeadlineTimer`. Deadlines far in the future stand for "never" here; the suite's time
/// limit bounds every test.
@Suite("Ticket waiter and deadline timer", .timeLimit(.minutes(1)))
struct WaiterTests {
    static let never = ContinuousClock.now + .seconds(3600)

    @Test("a change beyond the version ends the wait; one at or below it does not")
    func changeBeyondVersion() async throws {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let waiter = notifier.waiter(ticket: "t1")
        #expect(notifier.subscriberCount == 1)
        #expect(waiter.change == nil)
        async let outcome = waiter.wait(beyond: 2, until: Self.never)
        try await waitUntil("the wait to start") { notifier.timer.count == 1 }
        notifier.publish(changes: [changedOrder("t1", version: 2)], workAdded: false)     // not beyond 2
        notifier.publish(changes: [changedOrder("t2", version: 9)], workAdded: false)     // another ticket
        notifier.publish(changes: [changedOrder("t1", version: 3)], workAdded: false)
        #expect(await outcome == .changed)
        #expect(waiter.change?.ticket == "t1")
        #expect(waiter.change?.version == 3, "the committed state that ended the wait")
        #expect(notifier.timer.count == 0, "the deadline is cancelled with the wait")
        waiter.close()
        #expect(notifier.subscriberCount == 0)
    }

    @Test("of several changes of the ticket in one commit, a waiter gets the newest; a stream gets each")
    func newestOfBatch() async throws {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let waiter = notifier.waiter(ticket: "t1")
        let stream = notifier.subscribe(ticket: "t1")
        async let outcome = waiter.wait(beyond: 1, until: Self.never)
        try await waitUntil("the wait to start") { notifier.timer.count == 1 }
        notifier.publish(changes: [changedOrder("t1", version: 2), changedOrder("t2", version: 5), changedOrder("t1", version: 3)],
                         workAdded: false)
        #expect(await outcome == .changed)
        #expect(waiter.change?.version == 3)
        #expect(await collect(stream.changes, count: 2)?.map(\.version) == [2, 3])
    }

    @Test("a change committed between registration and the wait ends the wait at once")
    func changeBeforeWait() async {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let waiter = notifier.waiter(ticket: "t1")
        notifier.publish(changes: [changedOrder("t1", version: 2)], workAdded: false)
        #expect(await waiter.wait(beyond: 1, until: Self.never) == .changed)
        #expect(waiter.change == nil, "a change before the wait: the caller reads the current state")
        #expect(notifier.timer.count == 0)
    }

    @Test("without a change the wait ends at its deadline")
    func deadline() async {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let waiter = notifier.waiter(ticket: "t1")
        let deadline = ContinuousClock.now + .milliseconds(50)
        #expect(await waiter.wait(beyond: 1, until: deadline) == .timedOut)
        #expect(ContinuousClock.now >= deadline)
        #expect(notifier.timer.count == 0)
        #expect(notifier.subscriberCount == 1, "registered until closed")
        waiter.close()
        #expect(notifier.subscriberCount == 0)
    }

    @Test("release ends a wait in progress, and a wait that starts after it")
    func release() async throws {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let waiting = notifier.waiter(ticket: "t1")
        async let outcome = waiting.wait(beyond: 1, until: Self.never)
        try await waitUntil("the wait to start") { notifier.timer.count == 1 }
        waiting.release()
        #expect(await outcome == .released)

        let early = notifier.waiter(ticket: "t1")
        early.release()
        notifier.publish(changes: [changedOrder("t1", version: 2)], workAdded: false)
        #expect(await early.wait(beyond: 1, until: Self.never) == .released, "the first end wins")
    }

    @Test("before register() a waiter or stream counts as nothing and records nothing; a release or close is kept")
    func unregistered() async {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let quiet = notifier.unregisteredWaiter(ticket: "t1")
        let left = notifier.unregisteredWaiter(ticket: "t1")
        let stream = notifier.unregisteredSubscription(ticket: "t1")
        #expect(notifier.subscriberCount == 0)
        notifier.publish(changes: [changedOrder("t1", version: 2)], workAdded: false)   // before registration: not seen
        left.release()   // the client left before the poll counted as waiting
        stream.close()
        quiet.register()
        left.register()
        #expect(notifier.subscriberCount == 2)
        #expect(await left.wait(beyond: 1, until: Self.never) == .released)
        #expect(await quiet.wait(beyond: 1, until: .now + .milliseconds(20)) == .timedOut)
        #expect(await collect(stream.changes, count: 1) == nil, "a stream closed before registration ends")
        quiet.close()
        left.close()
        #expect(notifier.subscriberCount == 0)
    }

    @Test("shutdown (finishAllSubscriptions) ends waits in progress and those to come")
    func shutdown() async throws {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let a = notifier.waiter(ticket: "t1")
        let b = notifier.waiter(ticket: "t2")
        async let outcome = a.wait(beyond: 1, until: Self.never)
        try await waitUntil("the wait to start") { notifier.timer.count == 1 }
        notifier.finishAllSubscriptions()
        #expect(notifier.subscriberCount == 0)
        #expect(await outcome == .ended)
        #expect(await b.wait(beyond: 1, until: Self.never) == .ended)
        a.close()
        b.close()
        #expect(notifier.subscriberCount == 0)
    }

    @Test("cancelling the waiting task ends the wait")
    func cancellation() async throws {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let waiter = notifier.waiter(ticket: "t1")
        let task = Task { await waiter.wait(beyond: 1, until: Self.never) }
        try await waitUntil("the wait to start") { notifier.timer.count == 1 }
        task.cancel()
        #expect(await task.value == .cancelled)
        #expect(notifier.timer.count == 0)

        let before = notifier.waiter(ticket: "t1")
        let cancelledFirst = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await before.wait(beyond: 1, until: Self.never)
        }
        #expect(await cancelledFirst.value == .cancelled)
    }

    @Test("one change ends every wait on the ticket; a waiter that is dropped unregisters")
    func manyWaiters() async throws {
        let notifier = ChangeFeed(timer: DeadlineTimer())
        let count = 100
        await withTaskGroup(of: TicketWaiter.Outcome.self) { group in
            for _ in 0..<count {
                let waiter = notifier.waiter(ticket: "t1")
                group.addTask { await waiter.wait(beyond: 1, until: Self.never) }
            }
            #expect(notifier.subscriberCount == count)
            notifier.publish(changes: [changedOrder("t1", version: 2)], workAdded: false)
            var changed = 0
            for await outcome in group where outcome == .changed { changed += 1 }
            #expect(changed == count)
        }
        // Each waiter unregisters (deinit) once its task is done with it.
        try await waitUntil("every waiter to unregister") { notifier.subscriberCount == 0 }
        #expect(notifier.timer.count == 0)
    }

    @Test("the deadline timer runs due actions in deadline order and never a cancelled one")
    func timerOrder() async {
        let timer = DeadlineTimer()
        let start = ContinuousClock.now
        let (fired, continuation) = AsyncStream<Int>.makeStream()
        // Scheduled out of order; 2 is cancelled; 4 is already due.
        let three = timer.schedule(at: start + .milliseconds(30)) { continuation.yield(3) }
        _ = three
        let two = timer.schedule(at: start + .milliseconds(20)) { continuation.yield(2) }
        _ = timer.schedule(at: start + .milliseconds(10)) { continuation.yield(1) }
        _ = timer.schedule(at: start - .milliseconds(10)) { continuation.yield(0) }
        _ = timer.schedule(at: start + .milliseconds(40)) { continuation.yield(4); continuation.finish() }
        timer.cancel(two)
        var order: [Int] = []
        for await i in fired { order.append(i) }
        #expect(order == [0, 1, 3, 4])
        #expect(timer.count == 0)
        #expect(ContinuousClock.now >= start + .milliseconds(40))
    }

    @Test("cancelling most deadlines keeps the timer's heap bounded and the rest on time")
    func timerCompaction() async {
        let timer = DeadlineTimer()
        let (fired, continuation) = AsyncStream<Int>.makeStream()
        var handles: [UInt64] = []
        for i in 0..<1000 {
            handles.append(timer.schedule(at: Self.never) { continuation.yield(i) })
        }
        for handle in handles.dropLast() { timer.cancel(handle) }
        #expect(timer.count == 1)
        _ = timer.schedule(at: .now + .milliseconds(5)) { continuation.yield(-1) }
        var iterator = fired.makeAsyncIterator()
        #expect(await iterator.next() == -1)
        timer.cancel(handles[handles.count - 1])
        #expect(timer.count == 0)
    }
}

private func changedOrder(_ ticket: String, version: Int) -> Order {
    let t = Timestamp(milliseconds: 1_795_590_000_000)
    return Order(id: 1, ticket: ticket, number: 1, status: .cooking, priority: .normal,
                 items: [OrderLine(item: "fries", quantity: 1)], customer: nil, note: nil, version: version,
                 attempts: 1, maxAttempts: 3, lastError: nil, leaseOwner: nil, leaseExpiresAt: nil,
                 cookSeconds: 3, availableAt: t, createdAt: t, cookingAt: t, readyAt: nil, finishedAt: nil)
}
