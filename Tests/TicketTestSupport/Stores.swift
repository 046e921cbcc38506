import Foundation
import GRDB
import Testing
import TicketCore
import PostgresNIO
import TicketStore
import TicketWaiting
@testable import TicketStorePostgres
@testable import TicketStoreSQLite

/// The stores the contract suite runs against. A store added to the product is added here, and
/// every contract test runs against it too (River's driver test suite does the same for every
/// driver).
public enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    /// A database of its own on this process's throwaway cluster (`PostgresCluster`).
    case postgres

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
    /// The SQL of an integer field of a JSON array's element (`items`' `[0].quantity`): the one
    /// expression the two schemas spell differently.
    func jsonInteger(_ column: String, index: Int, key: String) -> String
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
    case .postgres:
        let options = try await PostgresTestDatabase.fresh(clock: clock)
        try await withPostgresStore(options, settings: settings) { store in
            try await body(StoreHarness(kind: kind, store: store, clock: clock, probe: PostgresProbe(store: store)))
        }
    }
}

/// Databases for tests on the process's `PostgresCluster`.
public enum PostgresTestDatabase {
    /// The options of a new, migrated database (copied from the migrated template), for a node
    /// named `node`, its statements stamped with `clock`'s time (nil: the database's).
    public static func fresh(clock: (any WallClock)? = nil, node: String = "test-node") async throws -> PostgresOptions {
        let cluster = try await templateReady.value
        let name = try await cluster.freshDatabase()
        return options(cluster: cluster, database: name, clock: clock, node: node)
    }

    /// The options of another node on the same database as `options`.
    public static func sameDatabase(as options: PostgresOptions, node: String) -> PostgresOptions {
        var other = options
        other.nodeID = node
        return other
    }

    public static func options(cluster: PostgresCluster, database: String, clock: (any WallClock)?, node: String) -> PostgresOptions {
        PostgresOptions(host: "127.0.0.1", port: cluster.port, username: cluster.user, database: database, poolSize: 4,
                        nodeID: node, injectedClock: clock)
    }

    private static let templateReady = Task<PostgresCluster, any Error> {
        let cluster = try await PostgresCluster.shared()
        let template = options(cluster: cluster, database: "ticketd_template", clock: nil, node: "template")
        _ = try await PostgresOrderStore.migrate(options: template, logger: testLogger("ticketd.store"))
        return cluster
    }
}

/// Opens the PostgreSQL store with `options`, runs it while `body` runs, then stops it: one run of
/// one node, as far as the database can tell.
public func withPostgresStore(_ options: PostgresOptions, settings: StoreSettings = StoreSettings(),
                              changes: ChangeFeed = ChangeFeed(),
                              _ body: (PostgresOrderStore) async throws -> Void) async throws {
    let store = try await PostgresOrderStore.open(options: options, settings: settings, changes: changes,
                                                  logger: testLogger("ticketd.store"))
    // Closed whether or not `body` failed: a failing test leaves no session behind.
    do {
        try await run(store, body)
    } catch {
        try? store.close()
        throw error
    }
    try store.close()
}

/// The PostgreSQL store's tables, read on a connection of its pool. `?` placeholders become `$n`.
public struct PostgresProbe: StoreProbe {
    public let store: PostgresOrderStore
    public init(store: PostgresOrderStore) { self.store = store }

    public func scalar(_ sql: String, _ arguments: [Int64]) async throws -> Int? {
        var text = ""
        var n = 0
        for c in sql {
            if c == "?" {
                n += 1
                text += "$\(n)"
            } else {
                text.append(c)
            }
        }
        var binds = PostgresBindings()
        for a in arguments { binds.append(a) }
        let query = PostgresQuery(unsafeSQL: text, binds: binds)
        let logger = store.logger
        return try await store.pool.withConnection { connection in
            try await connection.rows(query, logger: logger) { try $0.decode(Int?.self) }.first ?? nil
        }
    }

    public func jsonInteger(_ column: String, index: Int, key: String) -> String {
        "(\(column)->\(index)->>'\(key)')::integer"
    }
}

/// Opens the SQLite store at `path` (made if missing), runs its writer while `body` runs, then
/// stops the writer and closes the store: one run of the daemon, as far as the database can tell.
public func withSQLiteStore(at path: String, settings: StoreSettings = StoreSettings(),
                            synchronous: DatabaseOptions.Synchronous = .full, clock: any WallClock = TestClock(),
                            _ body: (SQLiteOrderStore) async throws -> Void) async throws {
    let store = try await offPool {
        try SQLiteOrderStore(options: DatabaseOptions(path: path, synchronous: synchronous),
                             settings: settings, clock: clock, logger: testLogger("ticketd.store"))
    }
    try await run(store, body)
    try await offPool { try store.close() }
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

    public func jsonInteger(_ column: String, index: Int, key: String) -> String {
        "json_extract(\(column), '$[\(index)].\(key)')"
    }
}
