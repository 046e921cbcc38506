import Synchronization
import TicketCore

/// Tells waiters what the writer committed, after the commit: ticket changes to long polls and
/// SSE streams, and "there is work" to idle cooks and kitchen claims. Waiting holds no thread
/// and no task of its own: a waiter is a continuation with a deadline on one shared timer; a
/// waiter that goes away removes itself.
public final class ChangeNotifier: Sendable {
    /// One registration for the changes of one ticket.
    fileprivate enum Listener {
        /// An SSE stream: every change, in commit order.
        case stream(AsyncStream<Order>.Continuation)
        /// A long poll: released by the first change beyond its version.
        case waiter(TicketWaiter.Core)

        func deliver(_ order: Order) {
            switch self {
            case .stream(let c): c.yield(order)
            case .waiter(let w): w.deliver(order)
            }
        }

        func finish() {
            switch self {
            case .stream(let c): c.finish()
            case .waiter(let w): w.end(.ended)
            }
        }
    }

    private struct State {
        var nextID: UInt64 = 0
        var ticketListeners: [String: [UInt64: Listener]] = [:]
        var workEpoch: UInt64 = 0
        var workWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var subscriberCount = 0
    }

    private let state = Mutex(State())
    /// The deadlines of every waiting long poll and work wait.
    let deadlines = DeadlineTimer()

    public init() {}

    // MARK: Tickets

    /// A registration for the changes of one ticket. Register before reading the current state,
    /// so a change committed in between is not missed. Close it when done (or let it deinit).
    public final class Subscription: Sendable {
        public let changes: AsyncStream<Order>
        fileprivate let continuation: AsyncStream<Order>.Continuation
        fileprivate let id: UInt64
        fileprivate let ticket: String
        fileprivate let notifier: ChangeNotifier

        fileprivate init(changes: AsyncStream<Order>, continuation: AsyncStream<Order>.Continuation, id: UInt64,
                         ticket: String, notifier: ChangeNotifier) {
            self.changes = changes
            self.continuation = continuation
            self.id = id
            self.ticket = ticket
            self.notifier = notifier
        }

        /// Starts delivery (a subscription from `unregisteredSubscription`); once, before
        /// reading the current state.
        public func register() { notifier.register(ticket: ticket, id: id, .stream(continuation)) }

        /// Stops delivery, ends `changes` (also before `register()`) and frees the registration.
        public func close() {
            notifier.remove(ticket: ticket, id: id)
            continuation.finish()
        }

        deinit { notifier.remove(ticket: ticket, id: id) }
    }

    /// Starts delivering every committed change of `ticket`, in commit order.
    public func subscribe(ticket: String) -> Subscription {
        let subscription = unregisteredSubscription(ticket: ticket)
        subscription.register()
        return subscription
    }

    /// A subscription that delivers nothing and does not count as waiting until `register()`:
    /// an SSE stream hands it to the connection's watch first (see `unregisteredWaiter`).
    public func unregisteredSubscription(ticket: String) -> Subscription {
        let (stream, continuation) = AsyncStream<Order>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return Subscription(changes: stream, continuation: continuation, id: id, ticket: ticket, notifier: self)
    }

    /// Registers a long poll's waiter for `ticket`: from now on it records the changes of the
    /// ticket, so register before reading the current state. Then `wait(beyond:until:)` once;
    /// close it when done (or let it deinit).
    public func waiter(ticket: String) -> TicketWaiter {
        let waiter = unregisteredWaiter(ticket: ticket)
        waiter.register()
        return waiter
    }

    /// A waiter for `ticket` that records nothing and does not count as waiting until
    /// `register()`: a long poll hands it to the connection's watch first, so that once it
    /// counts as waiting, a client that leaves is noticed.
    public func unregisteredWaiter(ticket: String) -> TicketWaiter {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        return TicketWaiter(core: TicketWaiter.Core(), ticket: ticket, id: id, notifier: self)
    }

    fileprivate func register(ticket: String, id: UInt64, _ listener: Listener) {
        state.withLock { s in
            s.ticketListeners[ticket, default: [:]][id] = listener
            s.subscriberCount += 1
        }
    }

    fileprivate func remove(ticket: String, id: UInt64) {
        let listener = state.withLock { s -> Listener? in
            guard let l = s.ticketListeners[ticket]?.removeValue(forKey: id) else { return nil }
            s.subscriberCount -= 1
            if s.ticketListeners[ticket]?.isEmpty == true { s.ticketListeners[ticket] = nil }
            return l
        }
        if case .stream(let c) = listener { c.finish() }
    }

    /// Open ticket subscriptions (long polls and SSE streams waiting now).
    public var subscriberCount: Int { state.withLock { $0.subscriberCount } }

    /// Ends every ticket subscription and waiter (shutdown: waiting pollers answer at once).
    public func finishAllSubscriptions() {
        let all = state.withLock { s -> [Listener] in
            let all = s.ticketListeners.values.flatMap(\.values)
            s.ticketListeners = [:]
            s.subscriberCount = 0
            return all
        }
        for l in all { l.finish() }
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
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        let timer = Mutex<UInt64?>(nil)
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.workEpoch != epoch || Task.isCancelled { return true }
                    s.workWaiters[id] = c
                    return false
                }
                if resumeNow {
                    c.resume()
                } else {
                    let handle = deadlines.schedule(at: deadline) { [weak self] in self?.endWorkWait(id) }
                    timer.withLock { $0 = handle }
                }
            }
        } onCancel: {
            endWorkWait(id)
        }
        if let handle = timer.withLock({ $0 }) { deadlines.cancel(handle) }
    }

    private func endWorkWait(_ id: UInt64) {
        let c = state.withLock { $0.workWaiters.removeValue(forKey: id) }
        c?.resume()
    }

    // MARK: Publishing

    /// Called by the writer after a commit, never before.
    func publish(_ effects: WriteEffects) {
        if !effects.changes.isEmpty {
            let deliveries = state.withLock { s -> [(Listener, Order)] in
                guard !s.ticketListeners.isEmpty else { return [] }
                var out: [(Listener, Order)] = []
                for (index, order) in effects.changes.enumerated() {
                    guard let listeners = s.ticketListeners[order.ticket] else { continue }
                    // A stream gets every change; a long poll only the newest of its ticket in
                    // the batch (the state it answers with, as a read after the commit would).
                    let superseded = effects.changes[(index + 1)...].contains { $0.ticket == order.ticket }
                    for l in listeners.values {
                        if superseded, case .waiter = l { continue }
                        out.append((l, order))
                    }
                }
                return out
            }
            for (l, order) in deliveries { l.deliver(order) }
        }
        if effects.workAdded { signalWork() }
    }
}

/// A long poll's wait for the next change of one ticket (`ChangeNotifier.waiter(ticket:)`): a
/// single continuation, resumed by a change beyond the version, the deadline (on the notifier's
/// shared timer), `release()` (the client went away), shutdown or cancellation, whichever comes
/// first. No task or stream of its own. Close it when done (or let it deinit).
public final class TicketWaiter: Sendable {
    /// How a wait ended.
    public enum Outcome: Sendable, Equatable {
        /// A change beyond the version committed (before or during the wait).
        case changed
        /// The deadline passed.
        case timedOut
        /// `release()` was called: the client went away.
        case released
        /// The notifier ended every waiter (shutdown).
        case ended
        /// The waiting task was cancelled.
        case cancelled
    }

    fileprivate let core: Core
    private let ticket: String
    private let id: UInt64
    private let notifier: ChangeNotifier

    fileprivate init(core: Core, ticket: String, id: UInt64, notifier: ChangeNotifier) {
        self.core = core
        self.ticket = ticket
        self.id = id
        self.notifier = notifier
    }

    deinit { notifier.remove(ticket: ticket, id: id) }

    /// Waits until a change beyond `version` commits (one committed since registration returns
    /// at once), until `deadline`, until `release()` or shutdown, or until the task is
    /// cancelled. Call it once. After `.changed`, `change` is the committed state that ended it.
    ///
    /// Only the one-byte outcome passes through the async frames (which stay allocated while a
    /// long poll waits); the state that ended the wait is kept here, boxed, until asked for.
    public func wait(beyond version: Int, until deadline: ContinuousClock.Instant) async -> Outcome {
        await core.wait(beyond: version, until: deadline, timer: notifier.deadlines)
    }

    /// The committed state that ended the wait with `.changed` (the newest of the ticket in its
    /// commit), or nil: no change yet, or it came before the wait began (read the current
    /// state then).
    public var change: Order? { core.change }

    /// Starts recording the ticket's changes (a waiter from `unregisteredWaiter`); once, before
    /// reading the state to wait on, and not after `close()`.
    public func register() { notifier.register(ticket: ticket, id: id, .waiter(core)) }

    /// The client went away: ends the wait with `.released` (at once, or when it starts).
    public func release() { core.end(.released) }

    /// Stops recording changes and frees the registration.
    public func close() { notifier.remove(ticket: ticket, id: id) }

    /// The registered part (the notifier's map holds it; the handle above frees it).
    fileprivate final class Core: Sendable {
        /// A released state, on the heap: a waiting `Core` holds a nil reference, not an `Order`.
        private final class Change: Sendable {
            let order: Order
            init(_ order: Order) { self.order = order }
        }

        private struct State {
            /// The newest version committed since registration (0: none).
            var newestVersion = 0
            /// While waiting: the version a change must go beyond, and the continuation.
            var beyond = Int.max
            var continuation: CheckedContinuation<Outcome, Never>?
            /// An end that came before the wait (release, shutdown), or the wait's outcome.
            var outcome: Outcome?
            /// The state that ended the wait with `.changed`.
            var change: Change?
        }

        private let state = Mutex(State())

        var change: Order? { state.withLock { $0.change?.order } }

        func wait(beyond version: Int, until deadline: ContinuousClock.Instant, timer: DeadlineTimer) async -> Outcome {
            let handle = Mutex<UInt64?>(nil)
            let outcome = await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Outcome, Never>) in
                    let now = state.withLock { s -> Outcome? in
                        if let outcome = s.outcome { return outcome }
                        if s.newestVersion > version { s.outcome = .changed; return .changed }
                        if Task.isCancelled { s.outcome = .cancelled; return .cancelled }
                        s.beyond = version
                        s.continuation = c
                        return nil
                    }
                    if let now {
                        c.resume(returning: now)
                    } else {
                        let h = timer.schedule(at: deadline) { [weak self] in self?.end(.timedOut) }
                        handle.withLock { $0 = h }
                    }
                }
            } onCancel: {
                end(.cancelled)
            }
            if let h = handle.withLock({ $0 }) { timer.cancel(h) }
            return outcome
        }

        func deliver(_ order: Order) {
            let c = state.withLock { s -> CheckedContinuation<Outcome, Never>? in
                s.newestVersion = max(s.newestVersion, order.version)
                guard order.version > s.beyond, let c = s.continuation else { return nil }
                s.continuation = nil
                s.outcome = .changed
                s.change = Change(order)
                return c
            }
            c?.resume(returning: .changed)
        }

        /// Ends the wait with `outcome`; before the wait, a release or shutdown is kept for it
        /// (a timeout or cancellation only ends a wait in progress).
        func end(_ outcome: Outcome) {
            let c = state.withLock { s -> CheckedContinuation<Outcome, Never>? in
                guard s.outcome == nil else { return nil }
                guard let c = s.continuation else {
                    if outcome == .released || outcome == .ended { s.outcome = outcome }
                    return nil
                }
                s.continuation = nil
                s.outcome = outcome
                return c
            }
            c?.resume(returning: outcome)
        }
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
