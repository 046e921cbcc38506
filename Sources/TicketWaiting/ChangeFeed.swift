import Synchronization
import TicketCore

/// What a store committed, told to whoever waits on it, after the commit and never before:
/// "ticket T is now this state" to long polls and SSE streams, and "work is available" to idle
/// cooks and kitchen claims. Every store publishes into one (SQLite after its commit; a store
/// shared by several nodes also when another node tells it of a commit), and waiters do not
/// know which store they wait on.
///
/// Waiting holds no thread and no task of its own: a long poll is one `TicketWaiter`
/// (a `WaitableState` with its deadline on the shared timer); a waiter that goes away removes
/// itself.
public final class ChangeFeed: Sendable {
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
        var subscriberCount = 0
        /// Listeners to every commit (the board's feed): each commit's changes, in order.
        var commitListeners: [UInt64: AsyncStream<[OrderChange]>.Continuation] = [:]
    }

    private let state = Mutex(State())
    /// "Work is available": bumped by every commit that queued something claimable.
    private let work = Epoch()
    let timer: DeadlineTimer

    public init(timer: DeadlineTimer = .shared) {
        self.timer = timer
    }

    // MARK: Tickets

    /// A registration for the changes of one ticket. Register before reading the current state,
    /// so a change committed in between is not missed. Close it when done (or let it deinit).
    public final class Subscription: Sendable {
        public let changes: AsyncStream<Order>
        fileprivate let continuation: AsyncStream<Order>.Continuation
        fileprivate let id: UInt64
        fileprivate let ticket: String
        fileprivate let feed: ChangeFeed

        fileprivate init(changes: AsyncStream<Order>, continuation: AsyncStream<Order>.Continuation, id: UInt64,
                         ticket: String, feed: ChangeFeed) {
            self.changes = changes
            self.continuation = continuation
            self.id = id
            self.ticket = ticket
            self.feed = feed
        }

        /// Starts delivery (a subscription from `unregisteredSubscription`); once, before
        /// reading the current state.
        public func register() { feed.register(ticket: ticket, id: id, .stream(continuation)) }

        /// Stops delivery, ends `changes` (also before `register()`) and frees the registration.
        public func close() {
            feed.remove(ticket: ticket, id: id)
            continuation.finish()
        }

        deinit { feed.remove(ticket: ticket, id: id) }
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
        return Subscription(changes: stream, continuation: continuation, id: nextID(), ticket: ticket, feed: self)
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
        TicketWaiter(core: TicketWaiter.Core(timer: timer), ticket: ticket, id: nextID(), feed: self)
    }

    private func nextID() -> UInt64 {
        state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
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

    /// The tickets someone waits on now (a store shared by several nodes re-reads them after a
    /// gap in the notifications it receives).
    public var watchedTickets: [String] { state.withLock { Array($0.ticketListeners.keys) } }

    /// True when a long poll or an SSE stream waits on `ticket` now.
    public func isWatched(ticket: String) -> Bool { state.withLock { $0.ticketListeners[ticket] != nil } }

    /// Ends every ticket subscription and waiter (shutdown: waiting pollers answer at once).
    public func finishAllSubscriptions() {
        let (all, commits) = state.withLock { s -> ([Listener], [AsyncStream<[OrderChange]>.Continuation]) in
            let all = s.ticketListeners.values.flatMap(\.values)
            let commits = Array(s.commitListeners.values)
            s.ticketListeners = [:]
            s.commitListeners = [:]
            s.subscriberCount = 0
            return (all, commits)
        }
        for l in all { l.finish() }
        for c in commits { c.finish() }
    }

    // MARK: Every commit

    /// Every committed change from now on, one element per commit (the board's feed, which
    /// recomputes the board after changes). A listener that falls behind keeps the newest 256
    /// commits. Ends at `finishAllSubscriptions()` or when the stream is dropped.
    public func commits() -> AsyncStream<[OrderChange]> {
        let (stream, continuation) = AsyncStream<[OrderChange]>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = nextID()
        state.withLock { $0.commitListeners[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.commitListeners.removeValue(forKey: id) }
        }
        return stream
    }

    // MARK: Work

    /// The current work epoch: pass it to `waitForWork(after:until:)` to not miss a signal that
    /// comes between a failed claim and the wait.
    public var workEpoch: UInt64 { work.current }

    /// Wakes every waiting cook and kitchen claim.
    public func signalWork() { work.advance() }

    /// Returns when work is signalled after `epoch`, at `deadline`, or on cancellation,
    /// whichever comes first.
    public func waitForWork(after epoch: UInt64, until deadline: ContinuousClock.Instant) async {
        await work.wait(after: epoch, until: deadline)
    }

    /// Cooks and kitchen claims waiting for work now.
    public var workWaiterCount: Int { work.waiterCount }

    // MARK: Publishing

    /// Tells waiters what a commit changed: the orders' new states in commit order, and whether
    /// it queued claimable work. Stores call it after the commit, never before.
    public func publish(changes: [Order], workAdded: Bool) {
        publish(watched: changes, committed: nil, workAdded: workAdded)
    }

    /// As `publish(changes:workAdded:)` for a commit this node learned of from another node:
    /// `watched` (the changed orders someone here waits on, as read since) goes to long polls and
    /// streams, `committed` (every change of the commit, from the notification) to the listeners
    /// of every commit.
    public func publish(watched: [Order], committed: [OrderChange]?, workAdded: Bool) {
        let (deliveries, commitListeners) = state.withLock { s -> ([(Listener, Order)], [AsyncStream<[OrderChange]>.Continuation]) in
            let commitListeners = s.commitListeners.isEmpty ? [] : Array(s.commitListeners.values)
            guard !s.ticketListeners.isEmpty else { return ([], commitListeners) }
            var out: [(Listener, Order)] = []
            for (index, order) in watched.enumerated() {
                guard let listeners = s.ticketListeners[order.ticket] else { continue }
                // A stream gets every change; a long poll only the newest of its ticket in
                // the commit (the state it answers with, as a read after the commit would).
                let superseded = watched[(index + 1)...].contains { $0.ticket == order.ticket }
                for l in listeners.values {
                    if superseded, case .waiter = l { continue }
                    out.append((l, order))
                }
            }
            return (out, commitListeners)
        }
        for (l, order) in deliveries { l.deliver(order) }
        if !commitListeners.isEmpty {
            let summary = committed ?? watched.map(OrderChange.init)
            if !summary.isEmpty {
                for c in commitListeners { c.yield(summary) }
            }
        }
        if workAdded { signalWork() }
    }
}

/// A long poll's wait for the next change of one ticket (`ChangeFeed.waiter(ticket:)`): a
/// `WaitableState` resumed by a change beyond the version, the deadline (on the shared timer),
/// `release()` (the client went away), shutdown or cancellation, whichever comes first. No task
/// or stream of its own. Close it when done (or let it deinit).
public final class TicketWaiter: Sendable {
    /// How a wait ended.
    public enum Outcome: Sendable, Equatable {
        /// A change beyond the version committed (before or during the wait).
        case changed
        /// The deadline passed.
        case timedOut
        /// `release()` was called: the client went away.
        case released
        /// The feed ended every waiter (shutdown).
        case ended
        /// The waiting task was cancelled.
        case cancelled
    }

    fileprivate let core: Core
    private let ticket: String
    private let id: UInt64
    private let feed: ChangeFeed

    fileprivate init(core: Core, ticket: String, id: UInt64, feed: ChangeFeed) {
        self.core = core
        self.ticket = ticket
        self.id = id
        self.feed = feed
    }

    deinit { feed.remove(ticket: ticket, id: id) }

    /// Waits until a change beyond `version` commits (one committed since registration returns
    /// at once), until `deadline`, until `release()` or shutdown, or until the task is
    /// cancelled. Call it once. After `.changed`, `change` is the committed state that ended it.
    ///
    /// Only the one-byte outcome passes through the async frames (which stay allocated while a
    /// long poll waits); the state that ended the wait is kept here, boxed, until asked for.
    public func wait(beyond version: Int, until deadline: ContinuousClock.Instant) async -> Outcome {
        await core.wait(beyond: version, until: deadline)
    }

    /// The committed state that ended the wait with `.changed` (the newest of the ticket in its
    /// commit), or nil: no change yet, or it came before the wait began (read the current
    /// state then).
    public var change: Order? { core.change }

    /// Starts recording the ticket's changes (a waiter from `unregisteredWaiter`); once, before
    /// reading the state to wait on, and not after `close()`.
    public func register() { feed.register(ticket: ticket, id: id, .waiter(core)) }

    /// The client went away: ends the wait with `.released` (at once, or when it starts).
    public func release() { core.end(.released) }

    /// Stops recording changes and frees the registration.
    public func close() { feed.remove(ticket: ticket, id: id) }

    /// The registered part (the feed's map holds it; the handle above frees it).
    fileprivate final class Core: Sendable {
        /// A released state, on the heap: a waiting `Core` holds a nil reference, not an `Order`.
        private final class Change: Sendable {
            let order: Order
            init(_ order: Order) { self.order = order }
        }

        private struct State {
            /// The newest version committed since registration (0: none).
            var newestVersion = 0
            /// While waiting: the version a change must go beyond.
            var beyond = Int.max
            /// An end that came before the wait or during it (release, shutdown).
            var ended: Outcome?
            /// The state that ended the wait with `.changed`.
            var change: Change?
        }

        private let state: WaitableState<State>

        init(timer: DeadlineTimer) { state = WaitableState(State(), timer: timer) }

        var change: Order? { state.read { $0.change?.order } }

        func wait(beyond version: Int, until deadline: ContinuousClock.Instant) async -> Outcome {
            state.update { $0.beyond = version }
            switch await state.wait(until: deadline, for: { s -> Outcome? in
                if let ended = s.ended { return ended }
                return s.newestVersion > version ? .changed : nil
            }) {
            case .found(let outcome): return outcome
            case .timedOut: return .timedOut
            case .cancelled: return .cancelled
            }
        }

        func deliver(_ order: Order) {
            state.update { s in
                s.newestVersion = max(s.newestVersion, order.version)
                if order.version > s.beyond, s.change == nil { s.change = Change(order) }
            }
        }

        /// Ends the wait with `outcome` (at once, or when it starts).
        func end(_ outcome: Outcome) {
            state.update { s in
                if s.ended == nil { s.ended = outcome }
            }
        }
    }
}
