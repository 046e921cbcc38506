import Foundation
import GRDB
import Synchronization
import Testing
import TicketCore
@testable import TicketStore

/// A wall clock the test sets and advances by hand (lease expiry, backoff, expiry, pruning).
final class TestClock: WallClock {
    /// 2026-11-25T07:00:00.000Z
    static let start = Timestamp(milliseconds: 1_795_590_000_000)

    private let current: Mutex<Timestamp>

    init(_ start: Timestamp = TestClock.start) { current = Mutex(start) }

    func now() -> Timestamp { current.withLock { $0 } }

    func set(_ time: Timestamp) { current.withLock { $0 = time } }

    func advance(seconds: Double) { current.withLock { $0 = $0.adding(seconds: seconds) } }
}

/// What a store test gets: the running store, its clock and where its database lives.
struct StoreEnv: Sendable {
    let store: OrderStore
    let clock: TestClock
    let path: String
    let directory: URL
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// A fresh temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("ticketd-store-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir)
}

/// Opens a store on a new database in a temporary directory, runs its group-commit writer as a
/// child task, runs `body`, then closes the writer, waits for its loop, closes the store and
/// removes the directory (also when `body` throws).
func withStore(
    settings: StoreSettings = StoreSettings(),
    synchronous: DatabaseOptions.Synchronous = .full,
    clock: TestClock = TestClock(),
    _ body: (StoreEnv) async throws -> Void
) async throws {
    try await withTemporaryDirectory { dir in
        try await withStore(at: dir.appendingPathComponent("t.db").path, settings: settings, synchronous: synchronous,
                            clock: clock, body)
    }
}

/// Opens a store on the database at `path` (made if missing), runs its writer while `body`
/// runs, then stops the writer and closes the store: one run of the daemon, as far as the
/// database can tell.
func withStore(
    at path: String,
    settings: StoreSettings = StoreSettings(),
    synchronous: DatabaseOptions.Synchronous = .full,
    clock: TestClock = TestClock(),
    _ body: (StoreEnv) async throws -> Void
) async throws {
    let store = try OrderStore(options: DatabaseOptions(path: path, synchronous: synchronous),
                               settings: settings, clock: clock)
    let env = StoreEnv(store: store, clock: clock, path: path,
                       directory: URL(fileURLWithPath: path).deletingLastPathComponent())
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await store.run() }
        var failure: (any Error)?
        do { try await body(env) } catch { failure = error }
        store.writer.close()
        try await group.waitForAll()
        if let failure { throw failure }
    }
    try store.close()
}

/// Waits until `condition` holds, yielding in between; fails the test at the deadline.
func waitUntil(_ what: String, timeout: Duration = .seconds(20),
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out waiting for \(what)")
            throw TimedOut(what: what)
        }
        await Task.yield()
    }
}

/// The first `count` elements of `stream`, or nil if they do not all come within `timeout`.
func collect<T: Sendable>(_ stream: AsyncStream<T>, count: Int, timeout: Duration = .seconds(20)) async -> [T]? {
    await withTaskGroup(of: [T]?.self) { group in
        group.addTask {
            var out: [T] = []
            for await element in stream {
                out.append(element)
                if out.count == count { return out }
            }
            return nil   // finished early
        }
        group.addTask {
            try? await Task.sleep(for: timeout)   // a deadline, not synchronisation
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// A plain order of one line.
func order(_ item: String = "fries", quantity: Int = 1, priority: OrderPriority = .normal,
           customer: String? = nil) -> NewOrder {
    NewOrder(items: [OrderLine(item: item, quantity: quantity)], customer: customer, priority: priority,
             cookSeconds: 3)
}

extension OrderStore {
    /// One integer from a raw SQL query on a reader connection.
    func scalar(_ sql: String, _ arguments: StatementArguments = []) async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: sql, arguments: arguments) ?? -1 }
    }

    /// Row counts of the three tables a placement writes.
    func tableCounts() async throws -> TableCounts {
        try await pool.read { db in
            TableCounts(
                orders: try Int.fetchOne(db, sql: "SELECT count(*) FROM orders") ?? -1,
                events: try Int.fetchOne(db, sql: "SELECT count(*) FROM order_events") ?? -1,
                keys: try Int.fetchOne(db, sql: "SELECT count(*) FROM idempotency_keys") ?? -1,
                lastNumber: try Int.fetchOne(db, sql: "SELECT last_number FROM ticket_counter") ?? -1)
        }
    }

    /// The order by id, failing the test if it is missing.
    func require(id: Int64, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Order {
        try #require(try await order(id: id), sourceLocation: sourceLocation)
    }

    func events(id: Int64) async throws -> [OrderEventRecord] {
        try await orderWithEvents(id: id)?.1 ?? []
    }
}

struct TableCounts: Equatable, CustomStringConvertible {
    var orders: Int
    var events: Int
    var keys: Int
    var lastNumber: Int
    var description: String { "orders \(orders), events \(events), keys \(keys), last number \(lastNumber)" }
}

/// A second, independent connection to the store's database file (what `sqlite3` would be).
func rawConnection(_ path: String) throws -> DatabaseQueue {
    var config = Configuration()
    config.busyMode = .timeout(10)
    return try DatabaseQueue(path: path, configuration: config)
}

/// A counter shared between tasks.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    var current: Int { value.load(ordering: .sequentiallyConsistent) }
}

/// Holds the writer's database connection so that the group-commit writer is stuck in one
/// batch while the test queues more requests behind it; they then run as one batch.
final class WriterGate: Sendable {
    private final class Latch: Sendable {
        let entered = Atomic<Bool>(false)
        let released = Atomic<Bool>(false)
        let semaphore = DispatchSemaphore(value: 0)

        func open() {
            if !released.exchange(true, ordering: .sequentiallyConsistent) { semaphore.signal() }
        }
    }

    private let latch = Latch()
    private let task: Task<Void, any Error>

    /// Occupies the writer connection, then submits a no-op write as the writer's next batch and
    /// waits until the writer has taken that batch (and is waiting for the connection).
    init(store: OrderStore) async throws {
        let latch = self.latch
        task = Task {
            try await store.pool.writeWithoutTransaction { _ in
                latch.entered.store(true, ordering: .sequentiallyConsistent)
                latch.semaphore.wait()
            }
        }
        do {
            try await waitUntil("the gate to hold the writer connection") {
                latch.entered.load(ordering: .sequentiallyConsistent)
            }
            let batchBefore = store.writer.currentBatch
            Task { try await store.writer.write { _, _ in () } }
            try await waitUntil("the writer to take the blocking batch") { store.writer.currentBatch == batchBefore + 1 }
        } catch {
            latch.open()
            throw error
        }
    }

    /// Lets the writer go on. Safe to call more than once.
    func open() async throws {
        latch.open()
        try await task.value
    }

    deinit { latch.open() }
}
