import Synchronization
import TicketCore

/// Tells waiters what the writer committed, after the commit: ticket changes to long polls and
/// SSE streams, and "there is work" to idle cooks and kitchen claims. Waiting holds no thread;
/// a waiter that goes away removes itself.
public final class ChangeNotifier: Sendable {
    private struct State {
        var nextID: UInt64 = 0
        var ticketSubscribers: [String: [UInt64: AsyncStream<Order>.Continuation]] = [:]
        var workEpoch: UInt64 = 0
        var workWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var subscriberCount = 0
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: Tickets

    /// A registration for the changes of one ticket. Register before reading the current state,
    /// so a change committed in between is not missed. Close it when done (or let it deinit).
    public final class Subscription: Sendable {
        public let changes: AsyncStream<Order>
        fileprivate let id: UInt64
        fileprivate let ticket: String
        fileprivate let notifier: ChangeNotifier

        fileprivate init(changes: AsyncStream<Order>, id: UInt64, ticket: String, notifier: ChangeNotifier) {
            self.changes = changes
            self.id = id
            self.ticket = ticket
            self.notifier = notifier
        }

        /// Stops delivery and frees the registration.
        public func close() { notifier.remove(ticket: ticket, id: id) }

        deinit { notifier.remove(ticket: ticket, id: id) }
    }

    /// Starts delivering every committed change of `ticket`, in commit order.
    public func subscribe(ticket: String) -> Subscription {
        let (stream, continuation) = AsyncStream<Order>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            s.ticketSubscribers[ticket, default: [:]][s.nextID] = continuation
            s.subscriberCount += 1
            return s.nextID
        }
        return Subscription(changes: stream, id: id, ticket: ticket, notifier: self)
    }

    fileprivate func remove(ticket: String, id: UInt64) {
        let continuation = state.withLock { s -> AsyncStream<Order>.Continuation? in
            guard let c = s.ticketSubscribers[ticket]?.removeValue(forKey: id) else { return nil }
            s.subscriberCount -= 1
            if s.ticketSubscribers[ticket]?.isEmpty == true { s.ticketSubscribers[ticket] = nil }
            return c
        }
        continuation?.finish()
    }

    /// Open ticket subscriptions (long polls and SSE streams waiting now).
    public var subscriberCount: Int { state.withLock { $0.subscriberCount } }

    /// Ends every ticket subscription (shutdown: waiting pollers answer at once).
    public func finishAllSubscriptions() {
        let all = state.withLock { s -> [AsyncStream<Order>.Continuation] in
            let all = s.ticketSubscribers.values.flatMap(\.values)
            s.ticketSubscribers = [:]
            s.subscriberCount = 0
            return all
        }
        for c in all { c.finish() }
    }

    // MARK: Work

    /// The current work epoch: pass it to `waitForWork(after:until:)` to not miss a signal that
    /// comes between a failed claim and the wait.
    public var workEpoch: UInt64 { state.withLock { $0.workEpoch } }

    /// Wakes every waiting cook and kitchen claim.
    public func signalWork() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.workEpoch &+= 1
            let w = Array(s.workWaiters.values)
            s.workWaiters = [:]
            return w
        }
        for w in waiters { w.resume() }
    }

    /// Returns when work is signalled after `epoch`, at `deadline`, or on cancellation,
    /// whichever comes first.
    public func waitForWork(after epoch: UInt64, until deadline: ContinuousClock.Instant) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForWorkSignal(after: epoch) }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForWorkSignal(after epoch: UInt64) async {
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.workEpoch != epoch || Task.isCancelled { return true }
                    s.workWaiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.workWaiters.removeValue(forKey: id) }
            c?.resume()
        }
    }

    // MARK: Publishing

    /// Called by the writer after a commit, never before.
    func publish(_ effects: WriteEffects) {
        if !effects.changes.isEmpty {
            let deliveries = state.withLock { s -> [(AsyncStream<Order>.Continuation, Order)] in
                guard !s.ticketSubscribers.isEmpty else { return [] }
                var out: [(AsyncStream<Order>.Continuation, Order)] = []
                for order in effects.changes {
                    if let subs = s.ticketSubscribers[order.ticket] {
                        for c in subs.values { out.append((c, order)) }
                    }
                }
                return out
            }
            for (c, order) in deliveries { c.yield(order) }
        }
        if effects.workAdded { signalWork() }
    }
}

/// What a committed write changed: the orders' new states and whether new work was queued.
public struct WriteEffects: Sendable {
    public var changes: [Order] = []
    public var workAdded = false
    public init() {}

    mutating func merge(_ other: WriteEffects) {
        changes.append(contentsOf: other.changes)
        workAdded = workAdded || other.workAdded
    }
}
