import Foundation
import GRDB
import Synchronization
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// What a SQLite store test gets: the running store, its clock, where its database lives, and a
/// probe of its tables.
struct StoreEnv: Sendable {
    let store: SQLiteOrderStore
    let clock: TestClock
    let path: String
    let directory: URL
    var probe: SQLiteProbe { SQLiteProbe(store: store) }

    /// The order by id, failing the test if it is missing.
    func require(id: Int64, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Order {
        try #require(try await store.order(id: id), "order \(id) is missing", sourceLocation: sourceLocation)
    }

    func events(id: Int64) async throws -> [OrderEventRecord] {
        try await store.orderWithEvents(id: id)?.1 ?? []
    }
}

/// Opens a store on a new database in a temporary directory, runs its group-commit writer while
/// `body` runs, then stops it, closes the store and removes the directory.
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
    try await withSQLiteStore(at: path, settings: settings, synchronous: synchronous, clock: clock) { store in
        try await body(StoreEnv(store: store, clock: clock, path: path,
                                directory: URL(fileURLWithPath: path).deletingLastPathComponent()))
    }
}

/// A second, independent connection to the store's database file (what `sqlite3` would be).
func rawConnection(_ path: String) throws -> DatabaseQueue {
    var config = Configuration()
    config.busyMode = .timeout(10)
    return try DatabaseQueue(path: path, configuration: config)
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
    init(store: SQLiteOrderStore) async throws {
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
