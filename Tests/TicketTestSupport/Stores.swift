import Foundation
import GRDB
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite

/// The stores the contract suite runs against. A store added to the product is added here, and
/// every contract test runs against it too (River's driver test suite does the same for every
/// driver).
public enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite

    public var testDescription: String { rawValue }
}

/// Row counts of the tables a placement writes.
public struct TableCounts: Equatable, Sendable, CustomStringConvertible {
    public var orders: Int
    public var events: Int
    public var keys: Int
    public var lastNumber: Int
    public init(orders: Int, events: Int, keys: Int, lastNumber: Int) {
        self.orders = orders
        self.events = events
        self.keys = keys
        self.lastNumber = lastNumber
    }
    public var description: String { "orders \(orders), events \(events), keys \(keys), last number \(lastNumber)" }
}

/// What a contract test may look at beyond the store's interface: the tables themselves, with
/// SQL that every store's schema answers (the same tables and columns; `?` placeholders).
public protocol StoreProbe: Sendable {
    /// One integer from `sql` (nil when it returns no row or NULL).
    func scalar(_ sql: String, _ arguments: [Int64]) async throws -> Int?
}

extension StoreProbe {
    public func scalar(_ sql: String) async throws -> Int? { try await scalar(sql, []) }

    public func tableCounts() async throws -> TableCounts {
        TableCounts(orders: try await scalar("SELECT count(*) FROM orders") ?? -1,
                    events: try await scalar("SELECT count(*) FROM order_events") ?? -1,
                    keys: try await scalar("SELECT count(*) FROM idempotency_keys") ?? -1,
                    lastNumber: try await scalar("SELECT last_number FROM ticket_counter") ?? -1)
    }
}

/// What a store test gets: the running store, its clock, a probe of its tables.
public struct StoreHarness: Sendable {
    public let kind: StoreKind
    public let store: any OrderStore
    public let clock: TestClock
    public let probe: any StoreProbe

    /// The order by id, failing the test if it is missing.
    public func require(id: Int64, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Order {
        try #require(try await store.order(id: id), "order \(id) is missing", sourceLocation: sourceLocation)
    }

    public func events(id: Int64) async throws -> [OrderEventRecord] {
        try await store.orderWithEvents(id: id)?.1 ?? []
    }
}

/// Opens a fresh store of `kind`, runs it while `body` runs, then stops and closes it (also when
/// `body` throws).
public func withStore(_ kind: StoreKind, settings: StoreSettings = StoreSettings(), clock: TestClock = TestClock(),
                      _ body: (StoreHarness) async throws -> Void) async throws {
    switch kind {
    case .sqlite:
        try await withTemporaryDirectory { dir in
            try await withSQLiteStore(at: dir.appendingPathComponent("t.db").path, settings: settings, clock: clock) { store in
                try await body(StoreHarness(kind: kind, store: store, clock: clock, probe: SQLiteProbe(store: store)))
            }
        }
    }
}

/// Opens the SQLite store at `path` (made if missing), runs its writer while `body` runs, then
/// stops the writer and closes the store: one run of the daemon, as far as the database can tell.
public func withSQLiteStore(at path: String, settings: StoreSettings = StoreSettings(),
                            synchronous: DatabaseOptions.Synchronous = .full, clock: any WallClock = TestClock(),
                            _ body: (SQLiteOrderStore) async throws -> Void) async throws {
    let store = try SQLiteOrderStore(options: DatabaseOptions(path: path, synchronous: synchronous),
                                     settings: settings, clock: clock, logger: testLogger("ticketd.store"))
    try await run(store, body)
    try store.close()
}

/// Runs `store` (its writer) while `body` runs, then stops it and waits for its loop.
public func run<S: OrderStore>(_ store: S, _ body: (S) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await store.run() }
        var failure: (any Error)?
        do { try await body(store) } catch { failure = error }
        store.stop()
        try await group.waitForAll()
        if let failure { throw failure }
    }
}

/// The SQLite store's tables, read on a reader connection of its pool.
public struct SQLiteProbe: StoreProbe {
    public let store: SQLiteOrderStore
    public init(store: SQLiteOrderStore) { self.store = store }

    public func scalar(_ sql: String, _ arguments: [Int64]) async throws -> Int? {
        try await store.pool.read { db in try Int.fetchOne(db, sql: sql, arguments: StatementArguments(arguments)) }
    }
}
