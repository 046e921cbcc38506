import Dispatch
import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// The single writer. Every write of the daemon is a request to it; it drains what is pending
/// (up to `maxBatch`), runs each request in its own SAVEPOINT inside one `BEGIN IMMEDIATE`
/// transaction, commits once — one fsync for the whole batch with `synchronous=FULL` — then
/// resumes each caller with its own result and publishes the batch's effects to the notifier.
/// Batching needs no timer: requests pile up while the previous commit runs.
///
/// A request that throws rolls back its savepoint alone. A batch whose transaction cannot
/// begin or commit (disk full, locked past the busy timeout) fails every caller in it with
/// `StoreError.unavailable`, and the writer keeps running.
public final class GroupCommitWriter: Service, Sendable {
    public static let defaultMaxBatch = 256

    private struct State {
        var pending: [any PendingWrite] = []
        var loopWaiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let pool: DatabasePool
    private let notifier: ChangeNotifier
    private let logger: Logger
    private let maxBatch: Int
    private let state = Mutex(State())
    private let stats = Mutex(Stats())
    private let batchCounter = Atomic<UInt64>(0)
    /// When the running batch began (monotonic nanoseconds), 0 while none runs.
    private let batchStartedAt = Atomic<UInt64>(0)

    /// Increases before each batch runs: caches kept by requests are valid within one batch.
    var currentBatch: UInt64 { batchCounter.load(ordering: .relaxed) }

    /// Counters for benchmarks and metrics.
    public struct Stats: Sendable {
        public var batches = 0
        public var requests = 0
        public var largestBatch = 0
        public var failedBatches = 0
    }

    /// Runs first in every batch's transaction (the store refreshes its queue index there).
    private let beforeBatch: @Sendable (Database) throws -> Void
    /// Sees every committed batch's changes before they are published.
    private let afterCommit: @Sendable (WriteEffects) -> Void

    init(pool: DatabasePool, notifier: ChangeNotifier, logger: Logger, maxBatch: Int = defaultMaxBatch,
         beforeBatch: @escaping @Sendable (Database) throws -> Void = { _ in },
         afterCommit: @escaping @Sendable (WriteEffects) -> Void = { _ in }) {
        self.pool = pool
        self.notifier = notifier
        self.logger = logger
        self.maxBatch = max(1, maxBatch)
        self.beforeBatch = beforeBatch
        self.afterCommit = afterCommit
    }

    public var statistics: Stats { stats.withLock { $0 } }

    /// How long the running batch has been running (nil while none runs). A batch waiting on
    /// another process's write lock runs up to the busy timeout: the watchdog tells that wait
    /// from a stuck writer by this.
    public var runningBatchSeconds: Double? {
        let started = batchStartedAt.load(ordering: .relaxed)
        guard started != 0 else { return nil }
        return Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9
    }

    /// Runs `body` in the next batch and returns its result once the batch has committed.
    /// `body` runs on the writer's connection inside a savepoint; what it adds to the effects is
    /// published after the commit. Throws what `body` throws, `StoreError.unavailable` when the
    /// batch could not commit, or `StoreError.closed` after shutdown.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database, inout WriteEffects) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let request = PendingRequest(body: body, continuation: continuation)
            let (accepted, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
                guard !s.closed else { return (false, nil) }
                s.pending.append(request)
                let w = s.loopWaiter
                s.loopWaiter = nil
                return (true, w)
            }
            if !accepted {
                continuation.resume(throwing: StoreError.closed)
                return
            }
            waiter?.resume()
        }
    }

    /// The writer loop. Returns after graceful shutdown once everything pending is written;
    /// later requests fail with `StoreError.closed`.
    public func run() async {
        await withGracefulShutdownHandler {
            while let batch = await nextBatch() {
                await execute(batch)
            }
        } onGracefulShutdown: {
            self.close()
        }
    }

    /// Stops taking requests; the loop writes what is pending and returns.
    public func close() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.closed = true
            let w = s.loopWaiter
            s.loopWaiter = nil
            return w
        }
        waiter?.resume()
    }

    /// The next batch, waiting while there is none; nil once closed and drained (or cancelled).
    private func nextBatch() async -> [any PendingWrite]? {
        while true {
            enum Next { case batch([any PendingWrite]), done, wait }
            let next = state.withLock { s -> Next in
                if !s.pending.isEmpty {
                    if s.pending.count <= maxBatch {
                        defer { s.pending.removeAll(keepingCapacity: true) }
                        return .batch(s.pending)
                    }
                    let batch = Array(s.pending.prefix(maxBatch))
                    s.pending.removeFirst(maxBatch)
                    return .batch(batch)
                }
                return s.closed ? .done : .wait
            }
            switch next {
            case .batch(let b): return b
            case .done: return nil
            case .wait:
                if Task.isCancelled {
                    // Non-graceful cancellation: fail what arrives from now on.
                    close()
                    continue
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { s -> Bool in
                            if !s.pending.isEmpty || s.closed { return true }
                            s.loopWaiter = c
                            return false
                        }
                        if resumeNow { c.resume() }
                    }
                } onCancel: {
                    self.close()
                }
            }
        }
    }

    private func execute(_ batch: [any PendingWrite]) async {
        var commitError: (any Error)?
        batchCounter.add(1, ordering: .relaxed)
        batchStartedAt.store(max(1, DispatchTime.now().uptimeNanoseconds), ordering: .relaxed)
        defer { batchStartedAt.store(0, ordering: .relaxed) }
        do {
            try await pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try beforeBatch(db)
                    for request in batch {
                        request.execute(db)
                        // SQLite may roll the whole transaction back on some errors (disk
                        // full, I/O): then nothing of the batch holds, and all of it fails.
                        if !db.isInsideTransaction {
                            throw StoreError.unavailable("the transaction was rolled back by SQLite")
                        }
                    }
                    return .commit
                }
            }
        } catch {
            commitError = error
        }
        var effects = WriteEffects()
        if let commitError {
            let mapped = (commitError as? StoreError) ?? StoreError.unavailable(Self.describe(commitError))
            logger.error("write batch failed; its \(batch.count) requests get 503", metadata: ["error": "\(commitError)"])
            for request in batch { request.fail(mapped) }
        } else {
            // Publish first, then resume the callers: when a write returns, its change has
            // already been announced.
            for request in batch {
                if let e = request.committedEffects() { effects.merge(e) }
            }
            afterCommit(effects)
            notifier.publish(effects)
            for request in batch { request.complete() }
        }
        stats.withLock { s in
            s.batches += 1
            s.requests += batch.count
            s.largestBatch = max(s.largestBatch, batch.count)
            if commitError != nil { s.failedBatches += 1 }
        }
    }

    /// A short reason for an error that keeps the database from taking writes.
    static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError {
            switch e.resultCode {
            case .SQLITE_FULL: return "disk full"
            case .SQLITE_BUSY, .SQLITE_LOCKED: return "database locked"
            case .SQLITE_IOERR: return "I/O error"
            case .SQLITE_TOOBIG: return "too big"
            case .SQLITE_READONLY: return "read-only"
            default: return e.message ?? "\(e.resultCode)"
            }
        }
        return "\(error)"
    }

    /// True for errors where the database, not the request, is at fault: the caller gets
    /// `unavailable` (503), not a bug report.
    static func isEnvironmental(_ error: any Error) -> Bool {
        guard let e = error as? DatabaseError else { return false }
        switch e.resultCode {
        case .SQLITE_FULL, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_TOOBIG:
            return true
        default:
            return false
        }
    }
}

/// A request waiting in the writer's queue. Touched only by the writer between `execute` and
/// `complete`/`fail`.
protocol PendingWrite: AnyObject, Sendable {
    /// Runs the request in its own savepoint, keeping its result or error.
    func execute(_ db: Database)
    /// The batch committed: the effects to publish if this request succeeded.
    func committedEffects() -> WriteEffects?
    /// The batch committed: resume the caller with its result.
    func complete()
    /// The batch did not commit: resume the caller with `error`.
    func fail(_ error: any Error)
}

private final class PendingRequest<T: Sendable>: PendingWrite, @unchecked Sendable {
    private let body: @Sendable (Database, inout WriteEffects) throws -> T
    private let continuation: CheckedContinuation<T, any Error>
    private var outcome: Result<T, any Error>?
    private var effects = WriteEffects()

    init(body: @escaping @Sendable (Database, inout WriteEffects) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    func execute(_ db: Database) {
        var value: T?
        var fx = WriteEffects()
        do {
            try db.inSavepoint {
                value = try body(db, &fx)
                return .commit
            }
            if let value {
                outcome = .success(value)
                effects = fx
            }
        } catch let error as StoreError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(GroupCommitWriter.isEnvironmental(error)
                ? StoreError.unavailable(GroupCommitWriter.describe(error)) : error)
        }
    }

    func committedEffects() -> WriteEffects? {
        if case .success? = outcome { return effects }
        return nil
    }

    func complete() {
        switch outcome {
        case .success(let v)?:
            continuation.resume(returning: v)
        case .failure(let e)?:
            continuation.resume(throwing: e)
        case nil:
            continuation.resume(throwing: StoreError.unavailable("the request did not run"))
        }
    }

    func fail(_ error: any Error) {
        continuation.resume(throwing: error)
    }
}
