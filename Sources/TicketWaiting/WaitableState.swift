import Synchronization

/// How a wait on a `WaitableState` ended.
public enum WaitOutcome<Value: Sendable>: Sendable {
    /// The state held what the wait looked for (before the wait or after an update).
    case found(Value)
    /// The deadline passed first.
    case timedOut
    /// The waiting task was cancelled first.
    case cancelled

    /// The value found, or nil when the wait timed out or was cancelled.
    public var value: Value? {
        if case .found(let v) = self { return v }
        return nil
    }
}

/// State behind a mutex that tasks can wait on — the one primitive every waiter of ticketd is
/// built on (the writer's loop, its completer and parked claims, cooks waiting for work, long
/// polls waiting for a ticket's change, gates, settings reloads).
///
/// `wait(until:for:)` suspends until its `check` finds what it is looking for in the state,
/// the deadline passes, or the task is cancelled, whichever comes first. `check` runs under the
/// lock: once at the start and again after every `update`, and it may change the state (take
/// what it found). Waiting holds no thread, and deadlines share one timer (`DeadlineTimer`), so
/// ten thousand waits cost a dictionary entry each, not a sleeping task each.
///
/// An `update` wakes exactly the waiters whose `check` now succeeds; their continuations are
/// resumed after the lock is released.
///
/// Its methods are `@inlinable` so that each client specialises them for its own `State`: the
/// writer calls `update` for every write, and an unspecialised generic call there looked its
/// types' metadata up at run time on every call (a few per cent of a placement's instructions).
public final class WaitableState<State: Sendable>: Sendable {
    @usableFromInline
    struct Waiter {
        /// Runs `check`; on success returns the resumption to run outside the lock.
        @usableFromInline let attempt: @Sendable (inout State) -> (@Sendable () -> Void)?
        /// Resumes the waiter with a timeout or cancellation.
        @usableFromInline let end: @Sendable (_ timedOut: Bool) -> Void

        @usableFromInline
        init(attempt: @escaping @Sendable (inout State) -> (@Sendable () -> Void)?,
             end: @escaping @Sendable (_ timedOut: Bool) -> Void) {
            self.attempt = attempt
            self.end = end
        }
    }

    @usableFromInline
    struct Storage {
        @usableFromInline var state: State
        @usableFromInline var nextID: UInt64 = 0
        @usableFromInline var waiters: [UInt64: Waiter] = [:]

        @usableFromInline
        init(state: State) { self.state = state }
    }

    @usableFromInline let storage: Mutex<Storage>
    @usableFromInline let timer: DeadlineTimer

    public init(_ state: State, timer: DeadlineTimer = .shared) {
        storage = Mutex(Storage(state: state))
        self.timer = timer
    }

    /// Reads the state.
    @inlinable
    public func read<R>(_ body: (State) throws -> R) rethrows -> R {
        try storage.withLock { try body($0.state) }
    }

    /// Changes the state, then resumes every waiter whose `check` now succeeds.
    @inlinable @discardableResult
    public func update<R>(_ body: (inout State) throws -> R) rethrows -> R {
        let (result, wake) = try storage.withLock { s -> (R, [@Sendable () -> Void]) in
            let result = try body(&s.state)
            guard !s.waiters.isEmpty else { return (result, []) }
            var wake: [@Sendable () -> Void] = []
            for (id, waiter) in s.waiters {
                if let resume = waiter.attempt(&s.state) {
                    wake.append(resume)
                    s.waiters[id] = nil
                }
            }
            return (result, wake)
        }
        for resume in wake { resume() }
        return result
    }

    /// Tasks waiting now.
    public var waiterCount: Int { storage.withLock { $0.waiters.count } }

    /// Waits until `check` returns a value for the state (at once if it does now), until
    /// `deadline` (nil: no deadline), or until the task is cancelled — unless `cancellable` is
    /// false: a wait for something that must be taken whatever happens (a committed batch's
    /// callers, a claim a batch has made) ignores cancellation.
    @inlinable
    public func wait<Value: Sendable>(until deadline: ContinuousClock.Instant? = nil, cancellable: Bool = true,
                                      for check: @escaping @Sendable (inout State) -> Value?) async -> WaitOutcome<Value> {
        let id = storage.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        let deadlineHandle = Mutex<UInt64?>(nil)
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<WaitOutcome<Value>, Never>) in
                let now = storage.withLock { s -> WaitOutcome<Value>? in
                    if let value = check(&s.state) { return .found(value) }
                    if cancellable && Task.isCancelled { return .cancelled }
                    s.waiters[id] = Waiter(
                        attempt: { state in
                            guard let value = check(&state) else { return nil }
                            return { continuation.resume(returning: .found(value)) }
                        },
                        end: { timedOut in continuation.resume(returning: timedOut ? .timedOut : .cancelled) })
                    return nil
                }
                if let now {
                    continuation.resume(returning: now)
                } else if let deadline {
                    let handle = timer.schedule(at: deadline) { [weak self] in self?.end(id, timedOut: true) }
                    deadlineHandle.withLock { $0 = handle }
                }
            }
        } onCancel: {
            if cancellable { end(id, timedOut: false) }
        }
        if let handle = deadlineHandle.withLock({ $0 }) { timer.cancel(handle) }
        return outcome
    }

    /// Ends the wait `id` (if it still waits) with a timeout or cancellation.
    @usableFromInline
    func end(_ id: UInt64, timedOut: Bool) {
        let waiter = storage.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.end(timedOut)
    }
}

/// Opens once; every wait before or after returns. (Shutdown began; all cooks started.)
public final class Gate: Sendable {
    private let state = WaitableState(false)

    public init() {}

    public var isOpen: Bool { state.read { $0 } }

    public func open() { state.update { $0 = true } }

    /// Returns when the gate is open, or at once on cancellation.
    public func wait() async {
        _ = await state.wait { $0 ? () : nil }
    }
}

/// A counter of events that waiters wait to see move past a value they read: no signal between
/// the read and the wait is missed. (Work became available; settings were reloaded.)
public final class Epoch: Sendable {
    private let state = WaitableState<UInt64>(0)

    public init() {}

    /// The current value: pass it to `wait(after:until:)`.
    public var current: UInt64 { state.read { $0 } }

    /// Moves the epoch on and wakes every waiter.
    public func advance() { state.update { $0 &+= 1 } }

    /// Returns once the epoch has moved past `epoch` (true), at `deadline` or on cancellation
    /// (false).
    @discardableResult
    public func wait(after epoch: UInt64, until deadline: ContinuousClock.Instant? = nil) async -> Bool {
        await state.wait(until: deadline) { $0 != epoch ? () : nil }.value != nil
    }

    public var waiterCount: Int { state.waiterCount }
}
