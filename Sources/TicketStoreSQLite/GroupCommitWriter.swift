import Dispatch
import GRDB
import Logging
import ServiceLifecycle
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// The single writer. Every write of the daemon is a request to it; it drains what is pending
/// (up to `maxBatch`), runs each request in its own SAVEPOINT inside one `BEGIN IMMEDIATE`
/// transaction, commits once — one fsync for the whole batch with `synchronous=FULL` — then
/// resumes each caller with its own result and publishes the batch's effects to the change feed.
/// Batching needs no timer: requests pile up while the previous commit runs.
///
/// A request that throws rolls back its savepoint alone. A batch whose transaction cannot
/// begin or commit (disk full, locked past the busy timeout) fails every caller in it with
/// `StoreError.unavailable`, and the writer keeps running.
final class GroupCommitWriter: Sendable {
    public static let defaultMaxBatch = 256
    /// Batches up to this size are resumed by the writer itself; larger ones by the completer.
    static let resumedInPlace = 4

    private struct State {
        var pending: [any PendingWrite] = []
        var closed = false
        /// Writes that run only in a batch that adds work (idle cooks' claims), in order.
        var parked: [any PendingWrite] = []
    }

    private let pool: DatabasePool
    private let changes: ChangeFeed
    private let logger: Logger
    private let maxBatch: Int
    /// Requests and parked writes; the loop waits on it while nothing is pending.
    private let state = WaitableState(State())
    private let stats = Mutex(Stats())
    private let batchCounter = Atomic<UInt64>(0)
    /// When the running batch began (monotonic nanoseconds), 0 while none runs.
    private let batchStartedAt = Atomic<UInt64>(0)
    /// A full disk fails every batch: their log lines are throttled.
    private let failureLog = LogThrottle()

    /// Increases before each batch runs: caches kept by requests are valid within one batch.
    var currentBatch: UInt64 { batchCounter.load(ordering: .relaxed) }

    /// Requests waiting for the next batch, in the order they will run.
    var pendingCount: Int { state.update { $0.pending.count } }

    /// Counters for benchmarks and metrics.
    public struct Stats: Sendable {
        public var batches = 0
        public var requests = 0
        public var largestBatch = 0
        public var failedBatches = 0
        /// Batches run again with a savepoint per request (a request failed after writing).
        public var reruns = 0
    }

    /// Runs first in every batch's transaction (the store refreshes its queue index there).
    private let beforeBatch: @Sendable (Database) throws -> Void
    /// Runs last in every batch's transaction, before the commit, with the batch's number
    /// (`currentBatch`): the store writes its ticket counter there, once per batch.
    private let beforeCommit: @Sendable (Database, UInt64) throws -> Void
    /// Sees every committed batch's changes before they are published.
    private let afterCommit: @Sendable (WriteEffects) -> Void
    /// Committed batches whose callers are to be resumed, by the completer task of `run()`.
    private let committed = CommittedBatches()

    init(pool: DatabasePool, changes: ChangeFeed, logger: Logger, maxBatch: Int = defaultMaxBatch,
         beforeBatch: @escaping @Sendable (Database) throws -> Void = { _ in },
         beforeCommit: @escaping @Sendable (Database, UInt64) throws -> Void = { _, _ in },
         afterCommit: @escaping @Sendable (WriteEffects) -> Void = { _ in }) {
        self.pool = pool
        self.changes = changes
        self.logger = logger
        self.maxBatch = max(1, maxBatch)
        self.beforeBatch = beforeBatch
        self.beforeCommit = beforeCommit
        self.afterCommit = afterCommit
    }

    var statistics: Stats { stats.withLock { $0 } }

    /// How long the running batch has been running (nil while none runs). A batch waiting on
    /// another process's write lock runs up to the busy timeout: the watchdog tells that wait
    /// from a stuck writer by this.
    var runningBatchSeconds: Double? {
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
            let accepted = state.update { s -> Bool in
                guard !s.closed else { return false }
                s.pending.append(request)
                return true
            }
            if !accepted { continuation.resume(throwing: StoreError.closed) }
        }
    }

    /// Parks `body` until a batch adds work (`WriteEffects.workAdded`): that batch runs it after
    /// its own requests, in the same transaction, and it commits with them. An idle cook parks
    /// its claim, so an order placed while it waits is claimed by the batch that places it: one
    /// commit and one wake-up from order to cook instead of two commits and three wake-ups.
    /// `unpark` takes the result: nil if no batch has taken the write (it is then withdrawn).
    func park<T: Sendable>(_ body: @escaping @Sendable (Database, inout WriteEffects) throws -> T) -> ParkedWrite<T> {
        let parked = ParkedWrite(body: body)
        state.update { s in
            if !s.closed { s.parked.append(parked) }
        }
        return parked
    }

    /// Withdraws `parked` if no batch has taken it; otherwise waits for its batch to end and
    /// returns what it wrote (nil if the batch failed or the write threw).
    func unpark<T: Sendable>(_ parked: ParkedWrite<T>) async -> T? {
        let withdrawn = state.update { s -> Bool in
            guard let i = s.parked.firstIndex(where: { $0 === parked }) else { return false }
            s.parked.remove(at: i)
            return true
        }
        if withdrawn { return nil }
        return await parked.result()
    }

    /// The writer loop. Returns after graceful shutdown once everything pending is written;
    /// later requests fail with `StoreError.closed`.
    ///
    /// Callers of a committed batch are resumed by a child task, not by the writer's thread: each
    /// resume wakes a thread, and on a busy machine the woken thread took the writer's core, so
    /// resuming a batch's callers one by one delayed the next commit (seen with `perf trace`: a
    /// futex wake every 70 µs after each fdatasync). The writer hands the batch over and goes on.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while let batches = await self.committed.next() {
                    for batch in batches { for request in batch { request.complete() } }
                }
            }
            await withGracefulShutdownHandler {
                while let batch = await nextBatch() {
                    await execute(startingWith: batch)
                }
            } onGracefulShutdown: {
                self.close()
            }
            // Every batch has been handed over: the completer ends once it has resumed them.
            committed.finish()
        }
    }

    /// Stops taking requests; the loop writes what is pending and returns.
    func close() {
        state.update { $0.closed = true }
    }

    /// What is pending now (up to `maxBatch`), or nil when nothing is.
    /// Taking a batch counts it (`currentBatch`), before any of its requests runs.
    private func takePending() -> [any PendingWrite]? {
        let batch = state.update { s -> [any PendingWrite]? in
            if s.pending.isEmpty { return nil }
            if s.pending.count <= maxBatch {
                defer { s.pending.removeAll(keepingCapacity: true) }
                return s.pending
            }
            let batch = Array(s.pending.prefix(maxBatch))
            s.pending.removeFirst(maxBatch)
            return batch
        }
        if batch != nil { batchCounter.add(1, ordering: .relaxed) }
        return batch
    }

    /// The next batch, waiting while there is none; nil once closed and drained (or cancelled).
    private func nextBatch() async -> [any PendingWrite]? {
        while true {
            if let batch = takePending() { return batch }
            if state.read({ $0.closed }) {
                // Closed: what arrived in between is still written.
                return takePending()
            }
            if Task.isCancelled {
                // Non-graceful cancellation: fail what arrives from now on.
                close()
                continue
            }
            _ = await state.wait { s in !s.pending.isEmpty || s.closed ? () : nil }
        }
    }

    /// Writes `first`, then every batch that is pending by the time one commits, without leaving
    /// the writer connection's thread in between. Under load, going back to the task pool between
    /// batches queued the writer behind the request handlers it serves; it returns to waiting
    /// (asynchronously, holding no thread) only once nothing is pending.
    private func execute(startingWith first: [any PendingWrite]) async {
        do {
            try await pool.writeWithoutTransaction { db in
                var batch = first
                while true {
                    self.execute(batch, on: db)
                    guard let next = self.takePending() else { return }
                    batch = next
                }
            }
        } catch {
            // `execute(_:on:)` handles every error of its batch; only GRDB's scheduling can land
            // here (the pool closed): fail what this call was given.
            if let held = failureLog.admit() {
                logger.error("writer connection unavailable", metadata: ["error": "\(error)", "similar_lines_suppressed": "\(held)"])
            }
            for request in first { request.fail(StoreError.unavailable(Self.describe(error))) }
        }
    }

    /// One batch: one transaction, one commit; then publish and resume.
    ///
    /// The requests run first without savepoints: a savepoint costs two statements, and every
    /// page a request touches inside one is first copied to the statement journal. A request
    /// that fails having changed no row (a refused transition, a full queue: SQLite undoes a
    /// failed statement's own changes) needs no savepoint to be undone. One that fails after
    /// changing rows rolls the whole transaction back, and the batch runs again with a
    /// savepoint per request, so that the failing one rolls back alone.
    private func execute(_ batch: [any PendingWrite], on db: Database) {
        var commitError: (any Error)?
        var served: [any PendingWrite] = []
        // How long this batch has been running, for the watchdog (a lock held by another process
        // is a wait, not a hang).
        batchStartedAt.store(max(1, DispatchTime.now().uptimeNanoseconds), ordering: .relaxed)
        defer { batchStartedAt.store(0, ordering: .relaxed) }
        var savepoints = false
        /// Runs one write of the batch; throws when the transaction cannot go on as it is.
        func run(_ write: any PendingWrite) throws {
            let clean = write.execute(db, savepoint: savepoints)
            // SQLite may roll the whole transaction back on some errors (disk full, I/O): then
            // nothing of the batch holds, and all of it fails.
            if !db.isInsideTransaction {
                throw StoreError.unavailable("the transaction was rolled back by SQLite")
            }
            if !clean { throw RunAgainWithSavepoints() }
        }
        attempts: while true {
            do {
                try db.inTransaction(.immediate) {
                    try beforeBatch(db)
                    for request in batch { try run(request) }
                    // Work was added: the parked writes (idle cooks' claims) run now, after it.
                    if batch.contains(where: { $0.committedEffects()?.workAdded == true }) {
                        if served.isEmpty {
                            served = state.update { s in
                                defer { s.parked = [] }
                                return s.parked
                            }
                        }
                        for parked in served { try run(parked) }
                    }
                    try beforeCommit(db, currentBatch)
                    return .commit
                }
            } catch is RunAgainWithSavepoints {
                savepoints = true
                // What requests kept per batch (the store's writer cache) starts again.
                batchCounter.add(1, ordering: .relaxed)
                stats.withLock { $0.reruns += 1 }
                continue attempts
            } catch {
                commitError = error
            }
            break
        }
        var effects = WriteEffects()
        if let commitError {
            let mapped = (commitError as? StoreError) ?? StoreError.unavailable(Self.describe(commitError))
            if let held = failureLog.admit() {
                logger.error("write batch failed; its \(batch.count) requests get 503",
                             metadata: ["error": "\(commitError)", "similar_lines_suppressed": "\(held)"])
            }
            for request in batch { request.fail(mapped) }
            for parked in served { parked.fail(mapped) }
        } else {
            // Publish first, then resume the callers: when a write returns, its change has
            // already been announced.
            for request in batch {
                if let e = request.committedEffects() { effects.merge(e) }
            }
            for parked in served {
                if let e = parked.committedEffects() { effects.merge(e) }
            }
            afterCommit(effects)
            // Before the publish that wakes the cooks: a cook woken by it finds its result.
            for parked in served { parked.complete() }
            changes.publish(changes: effects.changes, workAdded: effects.workAdded)
            if batch.count <= Self.resumedInPlace {
                // A few callers (light load): at once, without a hop through the completer.
                for request in batch { request.complete() }
            } else {
                committed.push(batch)
            }
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

/// Hands committed batches from the writer's thread to the completer task. Its wait ignores
/// cancellation on purpose: every batch pushed is resumed, and `finish()` (after the writer's
/// last batch) is what ends it.
private final class CommittedBatches: Sendable {
    private struct State {
        var batches: [[any PendingWrite]] = []
        var finished = false
    }
    private let state = WaitableState(State())

    func push(_ batch: [any PendingWrite]) {
        state.update { $0.batches.append(batch) }
    }

    func finish() {
        state.update { $0.finished = true }
    }

    /// What was pushed since the last call, waiting while nothing was; nil once finished and empty.
    func next() async -> [[any PendingWrite]]? {
        enum Next: Sendable { case batches([[any PendingWrite]]), done }
        let next = await state.wait(cancellable: false) { s -> Next? in
            if !s.batches.isEmpty {
                defer { s.batches.removeAll(keepingCapacity: true) }
                return .batches(s.batches)
            }
            return s.finished ? .done : nil
        }
        if case .found(.batches(let batches)) = next { return batches }
        return nil
    }
}

/// A request waiting in the writer's queue. Touched only by the writer between `execute` and
/// `complete`/`fail`.
protocol PendingWrite: AnyObject, Sendable {
    /// Runs the request, in its own savepoint when `savepoint`, keeping its result or error.
    /// Returns false when it failed having changed rows outside a savepoint: the transaction
    /// must then be rolled back (the batch runs again with savepoints).
    func execute(_ db: Database, savepoint: Bool) -> Bool
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

    func execute(_ db: Database, savepoint: Bool) -> Bool {
        let (result, clean) = run(db, savepoint ? .request : nil, body)
        switch result {
        case .success(let (value, fx)):
            outcome = .success(value)
            effects = fx
        case .failure(let error):
            outcome = .failure(Self.mapped(error))
            effects = WriteEffects()
        }
        return clean
    }

    private static func mapped(_ error: any Error) -> any Error {
        if error is StoreError { return error }
        return GroupCommitWriter.isEnvironmental(error)
            ? StoreError.unavailable(GroupCommitWriter.describe(error)) : error
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

/// Runs `body` in the savepoint named `savepoint` (released with its value and effects, or rolled
/// back alone with its error), or without one when nil. Returns the outcome and whether the
/// transaction is still as it should be: false only when `body` failed without a savepoint
/// after changing rows (SQLite's count of changed rows moved; a failed statement's own changes
/// are undone by SQLite and not counted). The savepoint statements are prepared once and reused
/// (GRDB's `inSavepoint` parses them anew each time).
private func run<T>(_ db: Database, _ savepoint: Savepoint?,
                    _ body: (Database, inout WriteEffects) throws -> T) -> (Result<(T, WriteEffects), any Error>, clean: Bool) {
    guard let savepoint else {
        let changesBefore = db.totalChangesCount
        var fx = WriteEffects()
        do {
            let value = try body(db, &fx)
            return (.success((value, fx)), true)
        } catch {
            return (.failure(error), db.totalChangesCount == changesBefore)
        }
    }
    do {
        try db.cachedStatement(sql: savepoint.begin).execute()
    } catch {
        return (.failure(error), true)
    }
    var fx = WriteEffects()
    do {
        let value = try body(db, &fx)
        try db.cachedStatement(sql: savepoint.release).execute()
        return (.success((value, fx)), true)
    } catch {
        // Undo this write alone. If SQLite already rolled the whole transaction back, there is
        // no savepoint left; the writer sees that and fails the batch.
        if db.isInsideTransaction {
            try? db.cachedStatement(sql: savepoint.rollback).execute()
            try? db.cachedStatement(sql: savepoint.release).execute()
        }
        return (.failure(error), true)
    }
}

/// Thrown inside a batch's transaction to roll it back and run the batch again with savepoints.
private struct RunAgainWithSavepoints: Error {}

/// The statements of one named savepoint, built once.
private struct Savepoint {
    let begin, release, rollback: String
    init(_ name: String) {
        begin = "SAVEPOINT \(name)"
        release = "RELEASE SAVEPOINT \(name)"
        rollback = "ROLLBACK TO SAVEPOINT \(name)"
    }
    static let request = Savepoint("request")
    static let parked = Savepoint("parked")
}

/// A write parked with `GroupCommitWriter.park`: parked, then taken and run by a batch, then
/// ended when that batch commits (`complete`) or fails (`fail`); `result()` waits for that end.
final class ParkedWrite<T: Sendable>: PendingWrite, @unchecked Sendable {
    private let body: @Sendable (Database, inout WriteEffects) throws -> T
    // Set by the writer while it runs the batch (one thread), read after the batch ends.
    private var outcome: (T, WriteEffects)?
    private struct Ending {
        var ended = false
        var result: T?
    }
    private let ending = WaitableState(Ending())

    init(body: @escaping @Sendable (Database, inout WriteEffects) throws -> T) {
        self.body = body
    }

    func execute(_ db: Database, savepoint: Bool) -> Bool {
        let (result, clean) = run(db, savepoint ? .parked : nil, body)
        outcome = try? result.get()
        return clean
    }

    func committedEffects() -> WriteEffects? { outcome?.1 }

    func complete() { end(with: outcome?.0) }

    func fail(_ error: any Error) { end(with: nil) }

    private func end(with result: T?) {
        ending.update { e in
            e.ended = true
            e.result = result
        }
    }

    /// Waits for the batch that took the write to end (whatever happens to the waiting task: the
    /// claim it may have made must be handed to its cook).
    func result() async -> T? {
        await ending.wait(cancellable: false) { e in e.ended ? Optional(e.result) : nil }.value ?? nil
    }
}

/// What a committed write changed: the orders' new states and whether new work was queued.
struct WriteEffects: Sendable {
    var changes: [Order] = []
    var workAdded = false

    mutating func merge(_ other: WriteEffects) {
        changes.append(contentsOf: other.changes)
        workAdded = workAdded || other.workAdded
    }
}
