import Glibc
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// The node's single writer on PostgreSQL, as `GroupCommitWriter` is on SQLite: every write of
/// this node is a request to it; it drains what is pending (up to `maxBatch`), runs each request
/// in its own SAVEPOINT inside one transaction on one pooled connection, sends at most one
/// NOTIFY for the whole batch inside that transaction, commits once (`synchronous_commit` on:
/// a 2xx means durable), then applies the batch to the node's caches, publishes it to the
/// change feed and resumes each caller. Batching needs no timer: requests pile up while the
/// previous commit runs.
///
/// A request that throws rolls back its savepoint alone. A batch whose transaction cannot begin
/// or commit (PostgreSQL down, restarting, the connection lost) fails every caller in it with
/// `StoreError.unavailable`, and the writer keeps running.
final class PostgresWriter: Sendable {
    static let defaultMaxBatch = 256

    private struct State {
        var pending: [any PendingPostgresWrite] = []
        var closed = false
        /// Writes that run only in a batch that adds work (idle cooks' claims), in order.
        var parked: [any PendingPostgresWrite] = []
    }

    private let pool: ConnectionSource
    private let changes: ChangeFeed
    private let logger: Logger
    private let maxBatch: Int
    private let state = WaitableState(State())
    private let stats = Mutex(StoreStatistics())
    private let failureLog = LogThrottle()
    private let batchStartedAt = Atomic<UInt64>(0)
    private let batchCounter = Atomic<UInt64>(0)
    /// The stretch of batches running now (see `execute(startingWith:)`), for the watchdog.
    private let running = Mutex<Stretch?>(nil)
    /// When the watchdog abandons a stretch: no connection within the pool's connect timeout, its
    /// connection closed for a second, or a batch running past 30 s.
    private var watchRules: ConnectionWatch.Rules {
        let batchLimit: Duration = .seconds(30)
        return ConnectionWatch.Rules(lease: pool.timeout, run: batchLimit, grace: .seconds(1),
                                     lost: "the database connection was lost mid-batch (if it was committing, \(Self.mayHaveBeenSaved))",
                                     overrun: "a write batch ran past \(batchLimit)")
    }
    /// What a committed batch tells other nodes (one NOTIFY), built from its effects; nil: none.
    private let notice: @Sendable (WriteEffects) -> String?
    /// Sees every committed batch's effects before they are published (the queue index).
    private let afterCommit: @Sendable (WriteEffects) -> Void

    init(pool: ConnectionSource, changes: ChangeFeed, logger: Logger, maxBatch: Int = defaultMaxBatch,
         notice: @escaping @Sendable (WriteEffects) -> String?,
         afterCommit: @escaping @Sendable (WriteEffects) -> Void) {
        self.pool = pool
        self.changes = changes
        self.logger = logger
        self.maxBatch = max(1, maxBatch)
        self.notice = notice
        self.afterCommit = afterCommit
    }

    var statistics: StoreStatistics { stats.withLock { $0 } }

    /// Increases before each batch runs: figures kept by requests are valid within one batch.
    var currentBatch: UInt64 { batchCounter.load(ordering: .relaxed) }

    /// How long the running batch has been running (nil while none runs).
    var runningBatchSeconds: Double? {
        let started = batchStartedAt.load(ordering: .relaxed)
        guard started != 0 else { return nil }
        return Double(monotonicNanoseconds() &- started) / 1e9
    }

    /// Runs `body` in the next batch and returns its result once the batch has committed.
    /// Throws what `body` throws, `StoreError.unavailable` when the batch could not commit, or
    /// `StoreError.closed` after shutdown.
    func write<T: Sendable>(_ body: @escaping WriteBody<T>) async throws -> T {
        try await enqueue { PendingPostgresRequest(body: body, continuation: $0) }
    }

    /// Queues the request `make` builds around the caller's continuation; returns its result.
    func enqueue<T: Sendable>(_ make: (CheckedContinuation<T, any Error>) -> any PendingPostgresWrite) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let request = make(continuation)
            let accepted = state.update { s -> Bool in
                guard !s.closed else { return false }
                s.pending.append(request)
                return true
            }
            if !accepted { continuation.resume(throwing: StoreError.closed) }
        }
    }

    /// Parks `body` until a batch of this node adds work: that batch runs it after its own
    /// requests, in the same transaction (an idle cook's claim takes the order placed by the
    /// batch that places it: one commit from order to cook). `unpark` takes the result.
    func park<T: Sendable>(_ body: @escaping WriteBody<T>) -> ParkedPostgresWrite<T> {
        let parked = ParkedPostgresWrite(body: body)
        state.update { s in
            if !s.closed { s.parked.append(parked) }
        }
        return parked
    }

    /// Withdraws `parked` if no batch has taken it; otherwise waits for its batch to end and
    /// returns what it wrote (nil if the batch failed or the write threw).
    func unpark<T: Sendable>(_ parked: ParkedPostgresWrite<T>) async -> T? {
        let withdrawn = state.update { s -> Bool in
            guard let i = s.parked.firstIndex(where: { $0 === parked }) else { return false }
            s.parked.remove(at: i)
            return true
        }
        if withdrawn { return nil }
        return await parked.result()
    }

    /// The writer loop. Returns after graceful shutdown (or `close()`) once everything pending is
    /// written; later requests fail with `StoreError.closed`.
    func run() async {
        await withGracefulShutdownHandler {
            while let batch = await nextBatch() {
                await execute(startingWith: batch)
            }
        } onGracefulShutdown: {
            self.close()
        }
        // Parked claims still waiting end empty-handed.
        let parked = state.update { s -> [any PendingPostgresWrite] in
            defer { s.parked = [] }
            return s.parked
        }
        for p in parked { p.fail(StoreError.closed) }
    }

    func close() {
        state.update { $0.closed = true }
    }

    private func takePending() -> [any PendingPostgresWrite]? {
        state.update { s -> [any PendingPostgresWrite]? in
            if s.pending.isEmpty { return nil }
            if s.pending.count <= maxBatch {
                defer { s.pending.removeAll(keepingCapacity: true) }
                return s.pending
            }
            let batch = Array(s.pending.prefix(maxBatch))
            s.pending.removeFirst(maxBatch)
            return batch
        }
    }

    private func nextBatch() async -> [any PendingPostgresWrite]? {
        while true {
            if let batch = takePending() { return batch }
            if state.read({ $0.closed }) { return takePending() }
            if Task.isCancelled {
                close()
                continue
            }
            _ = await state.wait { s in !s.pending.isEmpty || s.closed ? () : nil }
        }
    }

    /// Writes `first`, then every batch pending by the time one commits, on one leased
    /// connection; the connection goes back to the pool once nothing is pending.
    ///
    /// The stretch runs in a task of its own that the writer stops waiting for when the watchdog
    /// abandons it: postgres-nio can leave a query waiting for good when its connection closes
    /// mid-query (seen here after `pg_ctl restart -m immediate`: the writer, and with it every
    /// cook and the daemon's shutdown, waited forever on a connection that no longer existed).
    private func execute(startingWith first: [any PendingPostgresWrite]) async {
        let stretch = Stretch()
        running.withLock { $0 = stretch }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            stretch.state.withLock { $0.done = done }
            Task {
                await self.run(stretch, startingWith: first)
                stretch.end()
            }
        }
        running.withLock { if $0 === stretch { $0 = nil } }
    }

    private func run(_ stretch: Stretch, startingWith first: [any PendingPostgresWrite]) async {
        guard stretch.begin(first) else { return }
        do {
            // The pool itself, not `ConnectionSource.withConnection`: a stretch may run as long
            // as writes keep coming; the writer's own watchdog bounds each batch instead.
            try await pool.client.withConnection { connection in
                guard stretch.attach(connection) else { return }
                // On the connection's event loop: each statement's answer resumes the batch
                // there, and the next statement leaves from there (`LoopExecutor`).
                try await withTaskExecutorPreference(LoopExecutor.of(connection.eventLoop)) {
                    var batch = first
                    while true {
                        await self.execute(batch, on: connection, in: stretch)
                        // A lost connection fails the rest quickly; lease a fresh one for what follows.
                        if connection.isClosed {
                            guard stretch.next(self.takePending) != nil else { return }
                            throw StoreError.unavailable("the database connection was lost")
                        }
                        guard let next = stretch.next(self.takePending) else { return }
                        batch = next
                    }
                }
            }
        } catch {
            // No connection (PostgreSQL down or restarting): fail what this stretch was given.
            let reason = PostgresErrors.describe(error)
            if let held = failureLog.admit() {
                logger.error("no database connection for the writer; its requests get 503",
                             metadata: ["error": "\(reason)", "similar_lines_suppressed": "\(held)"])
            }
            for request in stretch.inFlight where !request.isEnded { request.fail(StoreError.unavailable(reason)) }
            stats.withLock { $0.failedCommits += 1 }
        }
    }

    /// The watchdog's look at the running stretch (every 250 ms): one whose connection has been
    /// closed for a second, or whose batch has run past 30 s, is abandoned (`watchRules`): its requests
    /// get 503 (the client retries; an Idempotency-Key makes that safe whether or not the batch
    /// committed), the writer goes on with a fresh connection.
    func watch() {
        guard let stretch = running.withLock({ $0 }) else { return }
        guard let (reason, connection) = stretch.verdict(now: monotonicNanoseconds(), watchRules) else { return }
        let abandoned = stretch.abandon()
        guard !abandoned.isEmpty || connection != nil else { return }
        logger.error("write batch abandoned; its requests get 503", metadata: [
            "reason": "\(reason)", "requests": "\(abandoned.count)"])
        for request in abandoned { request.fail(StoreError.unavailable(reason)) }
        stats.withLock { $0.failedCommits += 1 }
        // Past the limit on a live connection (a lock that is never released, a server that
        // stopped answering): closing it ends the transaction on the server too.
        if let connection { Task { try? await connection.close() } }
    }

    /// One batch: one transaction, a savepoint per request, at most one NOTIFY, one commit;
    /// then the caches, the change feed, and the callers.
    private func execute(_ batch: [any PendingPostgresWrite], on connection: PostgresConnection, in stretch: Stretch) async {
        batchStartedAt.store(max(1, monotonicNanoseconds()), ordering: .relaxed)
        defer { batchStartedAt.store(0, ordering: .relaxed) }
        var served: [any PendingPostgresWrite] = []
        var effects = WriteEffects()
        var failure: (any Error)?
        // Set once COMMIT is on its way: a connection lost after that leaves the outcome unknown.
        var commitSent = false
        // First without savepoints (one round trip per statement instead of three); if any
        // request fails, that transaction is rolled back and the batch runs again with a
        // savepoint per request, so that the failing one rolls back alone. A batch of one
        // request whose failure is its answer (a refused transition, a lost lease) has nothing
        // else to protect: its rollback is the end of it.
        var savepoints = false
        attempts: while true {
            effects = WriteEffects()
            failure = nil
            // Figures counted by requests within a batch start again with each run of it.
            batchCounter.add(1, ordering: .relaxed)
            do {
                // BEGIN is not waited for here: postgres-nio sends the first statement as soon as
                // BEGIN's answer arrives, without a turn through this task (one hop fewer per
                // batch); its outcome is checked before the commit.
                let begun: EventLoopFuture<PostgresQueryResult> = connection.query("BEGIN", logger: logger)
                var clean = true
                var next = 0
                while next < batch.count && clean {
                    if !savepoints {
                        // Neighbours that share a statement (placements) run together.
                        let (ran, together) = try await Self.runTogether(batch, from: next, on: connection)
                        if ran > 0 {
                            clean = together
                            next += ran
                            continue
                        }
                    }
                    clean = try await batch[next].execute(connection, savepoint: savepoints, logger: logger)
                    next += 1
                }
                if clean, batch.contains(where: { $0.committedEffects()?.workAdded == true }) {
                    if served.isEmpty {
                        served = state.update { s in
                            defer { s.parked = [] }
                            return s.parked
                        }
                        stretch.add(served)
                    }
                    for parked in served where clean {
                        clean = try await parked.execute(connection, savepoint: savepoints, logger: logger)
                    }
                }
                if !clean {
                    try await connection.exec("ROLLBACK", logger: logger)
                    if !savepoints, batch.count == 1, served.isEmpty, batch[0].refused { break attempts }
                    savepoints = true
                    stats.withLock { $0.reruns += 1 }
                    continue attempts
                }
                _ = try await begun.get()
                for request in batch { if let e = request.committedEffects() { effects.merge(e) } }
                for parked in served { if let e = parked.committedEffects() { effects.merge(e) } }
                // One notification for the whole batch, sent inside its transaction: PostgreSQL
                // delivers it at the commit, never for a batch that rolls back. COMMIT follows it
                // on the wire without waiting for this task; a failed NOTIFY aborts the
                // transaction, and COMMIT then answers ROLLBACK: both are checked.
                let notified = notice(effects).map { payload -> EventLoopFuture<PostgresQueryResult> in
                    connection.query("SELECT pg_notify(\(ChangeNotice.channel), \(payload))", logger: logger)
                }
                commitSent = true
                let committed: EventLoopFuture<PostgresQueryResult> = connection.query("COMMIT", logger: logger)
                _ = try await notified?.get()
                let tag = try await committed.get().metadata.command
                guard tag == "COMMIT" else { throw StoreError.unavailable("the batch's COMMIT answered \(tag)") }
            } catch {
                failure = error
                if !connection.isClosed { try? await connection.exec("ROLLBACK", logger: logger) }
            }
            break
        }
        if let failure {
            let mapped = StoreError.unavailable(Self.reason(failure, commitSent: commitSent, connection: connection))
            if let held = failureLog.admit() {
                logger.error("write batch failed; its \(batch.count) requests get 503",
                             metadata: ["error": "\(PostgresErrors.describe(failure))", "similar_lines_suppressed": "\(held)"])
            }
            for request in batch { request.fail(mapped) }
            for parked in served { parked.fail(mapped) }
        } else {
            afterCommit(effects)
            for parked in served { parked.complete() }
            changes.publish(changes: effects.changes, workAdded: effects.workAdded)
            for request in batch { request.complete() }
        }
        stats.withLock { s in
            s.commits += 1
            s.writes += batch.count
            if failure != nil { s.failedCommits += 1 }
        }
        if let seconds = runningBatchSeconds, seconds > 1, let held = failureLog.admit() {
            // A batch waits for row locks another node's batch holds until it commits.
            logger.warning("a write batch took over a second", metadata: [
                "seconds": "\(seconds)", "requests": "\(batch.count)", "similar_lines_suppressed": "\(held)"])
        }
    }
}

extension PostgresWriter {
    /// Why a batch failed, as its callers are told. A connection lost once COMMIT was sent
    /// leaves the outcome unknown (no client of a database can know): the answer says so, and
    /// that a retry with the same Idempotency-Key is safe. Otherwise nothing was written.
    static func reason(_ failure: any Error, commitSent: Bool, connection: PostgresConnection) -> String {
        let why = PostgresErrors.describe(failure)
        // A StoreError here is the writer's own verdict (COMMIT answered ROLLBACK): nothing saved.
        guard commitSent, !(failure is StoreError),
              connection.isClosed || PostgresErrors.isConnectionLoss(failure) else { return why }
        return "the connection was lost during the commit (\(why)): \(mayHaveBeenSaved)"
    }

    /// What callers are told when their batch's commit may or may not have happened.
    static let mayHaveBeenSaved = "the write may have been saved; a retry with the same Idempotency-Key is safe"
}

/// A write's body: runs on the batch's connection inside its savepoint; what it adds to the
/// effects is published after the commit.
typealias WriteBody<T> = @Sendable (PostgresConnection, inout WriteEffects) async throws -> T

/// What a committed write changed: the orders' new states and whether new work was queued.
struct WriteEffects: Sendable {
    var changes: [Order] = []
    var workAdded = false

    mutating func merge(_ other: WriteEffects) {
        changes.append(contentsOf: other.changes)
        workAdded = workAdded || other.workAdded
    }
}

/// Thrown by a write's body to be run once more in a fresh savepoint: what it met was committed
/// by another node meanwhile (an Idempotency-Key taken between the look-up and the insert), and
/// a second run sees it.
struct RunAgain: Error {}

protocol PendingPostgresWrite: AnyObject, Sendable {
    /// Runs the request, in its own savepoint when `savepoint`, keeping its result or error.
    /// Without a savepoint, returns false when it failed (the batch must then be run again with
    /// savepoints: a failed statement aborts the whole transaction). Throws only when the
    /// transaction itself can no longer be used (the connection failed).
    func execute(_ connection: PostgresConnection, savepoint: Bool, logger: Logger) async throws -> Bool
    func committedEffects() -> WriteEffects?
    /// True when it ran and failed with an answer that running it again would repeat (a
    /// `StoreError` other than `unavailable` or `closed`).
    var refused: Bool { get }
    func complete()
    func fail(_ error: any Error)
    /// Resumed already.
    var isEnded: Bool { get }
}

/// Runs `body` in a savepoint: released with its value and effects, or rolled back alone with its
/// error (a body that throws `RunAgain` gets one more run). Throws when the savepoint itself
/// cannot be set, released or rolled back: the transaction is gone.
/// Runs `body` without a savepoint (the optimistic first run of a batch). Throws when the
/// connection is lost.
private func runBare<T>(_ connection: PostgresConnection,
                        _ body: WriteBody<T>) async throws -> Result<(T, WriteEffects), any Error> {
    var fx = WriteEffects()
    do {
        let value = try await body(connection, &fx)
        return .success((value, fx))
    } catch {
        if connection.isClosed || PostgresErrors.isConnectionLoss(error) { throw error }
        return .failure(PostgresErrors.mapped(error))
    }
}

private func runInSavepoint<T>(_ connection: PostgresConnection, logger: Logger,
                               _ body: WriteBody<T>) async throws -> Result<(T, WriteEffects), any Error> {
    var runs = 0
    while true {
        runs += 1
        try await connection.exec("SAVEPOINT request", logger: logger)
        var fx = WriteEffects()
        do {
            let value = try await body(connection, &fx)
            try await connection.exec("RELEASE SAVEPOINT request", logger: logger)
            return .success((value, fx))
        } catch {
            if connection.isClosed { throw error }
            try await connection.exec("ROLLBACK TO SAVEPOINT request", logger: logger)
            try await connection.exec("RELEASE SAVEPOINT request", logger: logger)
            if error is RunAgain, runs == 1 { continue }
            if PostgresErrors.isConnectionLoss(error) { throw error }
            return .failure(PostgresErrors.mapped(error))
        }
    }
}

class PendingPostgresRequest<T: Sendable>: PendingPostgresWrite, @unchecked Sendable {
    private let body: WriteBody<T>
    private let continuation: CheckedContinuation<T, any Error>
    // Touched by the writer alone until the request is resumed.
    private var outcome: Result<T, any Error>?
    private var effects = WriteEffects()
    private let ended = Atomic<Bool>(false)

    init(body: @escaping WriteBody<T>, continuation: CheckedContinuation<T, any Error>) {
        self.body = body
        self.continuation = continuation
    }

    var isEnded: Bool { ended.load(ordering: .acquiring) }

    func execute(_ connection: PostgresConnection, savepoint: Bool, logger: Logger) async throws -> Bool {
        let result = savepoint ? try await runInSavepoint(connection, logger: logger, body)
            : try await runBare(connection, body)
        return settle(result) || savepoint
    }

    /// Keeps the result of the request's write (its own or a shared statement's); false for a
    /// failure.
    @discardableResult
    func settle(_ result: Result<(T, WriteEffects), any Error>) -> Bool {
        switch result {
        case .success(let (value, fx)):
            outcome = .success(value)
            effects = fx
            return true
        case .failure(let error):
            outcome = .failure(error)
            effects = WriteEffects()
            return false
        }
    }

    func committedEffects() -> WriteEffects? {
        if case .success? = outcome { return effects }
        return nil
    }

    var refused: Bool {
        guard case .failure(let error)? = outcome, let store = error as? StoreError else { return false }
        switch store {
        case .unavailable, .closed: return false
        default: return true
        }
    }

    func complete() {
        guard ended.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        switch outcome {
        case .success(let v)?: continuation.resume(returning: v)
        case .failure(let e)?: continuation.resume(throwing: e)
        case nil: continuation.resume(throwing: StoreError.unavailable("the request did not run"))
        }
    }

    func fail(_ error: any Error) {
        guard ended.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        continuation.resume(throwing: error)
    }
}

/// A write parked with `PostgresWriter.park`: parked, then taken and run by a batch, then ended
/// when that batch commits (`complete`) or fails (`fail`); `result()` waits for that end.
final class ParkedPostgresWrite<T: Sendable>: PendingPostgresWrite, @unchecked Sendable {
    private let body: WriteBody<T>
    private var outcome: (T, WriteEffects)?
    private struct Ending {
        var ended = false
        var result: T?
    }
    private let ending = WaitableState(Ending())

    init(body: @escaping WriteBody<T>) {
        self.body = body
    }

    var isEnded: Bool { ending.read { $0.ended } }

    func execute(_ connection: PostgresConnection, savepoint: Bool, logger: Logger) async throws -> Bool {
        let result = savepoint ? try await runInSavepoint(connection, logger: logger, body)
            : try await runBare(connection, body)
        outcome = result.successValue
        return savepoint || outcome != nil
    }

    func committedEffects() -> WriteEffects? { outcome?.1 }

    var refused: Bool { false }

    func complete() { end(with: outcome?.0) }

    func fail(_ error: any Error) { end(with: nil) }

    private func end(with result: T?) {
        ending.update { e in
            if e.ended { return }
            e.ended = true
            e.result = result
        }
    }

    func result() async -> T? {
        await ending.wait(cancellable: false) { e in e.ended ? Optional(e.result) : nil }.value ?? nil
    }
}

extension Result {
    /// The value, or nil for a failure (a parked write whose body threw simply claimed nothing).
    fileprivate var successValue: Success? {
        if case .success(let v) = self { return v }
        return nil
    }
}

func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
