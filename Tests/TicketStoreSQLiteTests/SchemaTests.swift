import Foundation
import GRDB
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

@Suite("Schema, pragmas and migrations", .timeLimit(.minutes(1)))
struct SchemaTests {
    static let claimSelect = "SELECT id FROM orders WHERE status = 'queued' AND available_at <= ? ORDER BY priority DESC, id LIMIT 1"

    static func plan(_ db: Database, _ sql: String, _ arguments: StatementArguments) throws -> String {
        try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments)
            .map { $0["detail"] as String }
            .joined(separator: "\n")
    }

    @Test("the claim query runs on the orders_queue partial index")
    func claimUsesPartialIndex() async throws {
        try await withStore { env in
            // Some finished and live rows so the planner has something to choose between.
            for i in 0..<20 {
                let o = try await env.store.place(order(priority: i % 3 == 0 ? .rush : .normal)).order
                if i % 2 == 0 { _ = try await env.store.cancel(ticket: o.ticket) }
            }
            let raw = try rawConnection(env.path)
            defer { try? raw.close() }
            let now = env.clock.now().rfc3339
            try await raw.read { db in
                let inner = try Self.plan(db, Self.claimSelect, [now])
                #expect(inner.contains("orders_queue"), "\(inner)")
                #expect(!inner.contains("TEMP B-TREE"), "sorted by the index, not afterwards: \(inner)")
                // The claim's read, as the store runs it.
                let claim = try Self.plan(db, SQL.claimable, [now, 32])
                #expect(claim.contains("orders_queue"), "\(claim)")
                #expect(!claim.contains("TEMP B-TREE"), "\(claim)")
                // The sweeps and the board on their partial indexes, not a read of every row of
                // the status and a sort (which cost the writer 40 ms a second with 65,000 ready
                // orders).
                for (sql, arguments, index) in [
                    (SQL.uncollected, [now, 100] as StatementArguments, "orders_ready"),
                    (SQL.expiredLeases, [now, 100], "orders_cooking_lease"),
                    (SQL.pruneFinished, [now, 500], "orders_finished"),
                    (SQL.board, [], "orders_live_number"),
                    (SQL.boardPreparing, [200], "orders_live_number"),
                ] {
                    let plan = try Self.plan(db, sql, arguments)
                    #expect(plan.contains(index), "\(plan)")
                    #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
                }
                // The operators' lists and counts by status, in id order from their index:
                // queued ones one priority at a time on orders_queue, the others on
                // orders_past_queue (migration 0003).
                var lists: [(String, StatementArguments, String)] = [
                    (SQL.listQueuedOfPriority, ["rush", 0, 100], "orders_queue"),
                    (SQL.count(.queued), [], "orders_queue"),
                    (SQL.allCooking, [100], "orders_past_queue"),
                    (SQL.highestLiveNumber, [], "orders_live_number"),
                ]
                for status in OrderStatus.allCases where status != .queued {
                    lists.append((SQL.listPastQueue(status), [0, 100], "orders_past_queue"))
                    lists.append((SQL.count(status), [], "orders_past_queue"))
                }
                for (sql, arguments, index) in lists {
                    let plan = try Self.plan(db, sql, arguments)
                    #expect(plan.contains(index), "\(plan)")
                    #expect(!plan.contains("TEMP B-TREE"), "\(plan)")
                }
                // The claim and the ready of several orders find them by id, never by reading
                // every order of the status (0003 took the status index that served them).
                for sql in [SQL.claim(sets: "attempts = attempts + 1"), SQL.markReadyMany(sets: "version = version + 1")] {
                    let plan = try Self.plan(db, sql, sql.contains("cooking") ? ["[1,2]", "t", now] : ["[1,2]"])
                    #expect(plan.contains("INTEGER PRIMARY KEY"), "\(plan)")
                    #expect(!plan.contains("orders_queue") && !plan.contains("orders_past_queue"), "\(plan)")
                }
                // Position counting too: both halves on the partial index.
                let position = try Self.plan(db, SQL.position, ["normal", "normal", 5])
                #expect(position.components(separatedBy: "orders_queue").count == 3, "\(position)")
            }
        }
    }

    @Test("synchronous=FULL by default, NORMAL when asked; WAL; foreign keys on")
    func pragmas() async throws {
        try await withStore { env in
            #expect(try await env.store.writerSynchronousMode() == 2)
            let journal = try await env.store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(journal == "wal")
            let fk = try await env.store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA foreign_keys") }
            #expect(fk == 1)
            let raw = try rawConnection(env.path)
            defer { try? raw.close() }
            #expect(try await raw.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } == "wal")
        }
        try await withStore(synchronous: .normal) { env async throws in
            #expect(try await env.store.writerSynchronousMode() == 1)
        }
    }

    @Test("the embedded migrations are exactly the files in migrations/sqlite/")
    func embeddedMigrationsMatchDirectory() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = repo.appendingPathComponent("migrations/sqlite", isDirectory: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".sql") }
            .sorted()
        #expect(!files.isEmpty, "no migrations found in \(dir.path)")
        #expect(Migrations.all.map(\.identifier) == files.map { String($0.dropLast(4)) })
        for (file, migration) in zip(files, Migrations.all) {
            let bytes = try Data(contentsOf: dir.appendingPathComponent(file))
            #expect(bytes == Data(migration.sql.utf8), "\(file) differs from the embedded copy")
        }
        #expect(Migrations.latest == files.last.map { String($0.dropLast(4)) })
        // Identifiers sort in application order.
        #expect(Migrations.all.map(\.identifier) == Migrations.all.map(\.identifier).sorted())
    }

    @Test("a fresh database gets every migration; opening it again applies nothing")
    func migrateFreshAndAgain() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("t.db").path
            let all = Migrations.all.map(\.identifier)
            #expect(try SQLiteOrderStore.migrate(path: path) == all)
            #expect(try SQLiteOrderStore.migrate(path: path) == [])

            let other = dir.appendingPathComponent("other.db").path
            let store = try SQLiteOrderStore(options: DatabaseOptions(path: other), clock: TestClock())
            #expect(try await store.appliedMigrations() == all)
            let tables = try await store.pool.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('table','view') ORDER BY name")
            }
            for name in ["orders", "order_events", "ticket_counter", "idempotency_keys", "queue", "kitchen", "board", "failures"] {
                #expect(tables.contains(name), "\(name) missing")
            }
            try store.close()
            #expect(try SQLiteOrderStore.migrate(path: other) == [])
            // Reopening keeps the data (nothing re-applied over it).
            let reopened = try SQLiteOrderStore(options: DatabaseOptions(path: other), clock: TestClock())
            #expect(try await reopened.appliedMigrations() == all)
            try reopened.close()
        }
    }

    @Test("a database written by a newer ticketd is refused, naming the database")
    func databaseTooNew() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir.appendingPathComponent("t.db").path
            _ = try SQLiteOrderStore.migrate(path: path)
            let raw = try rawConnection(path)
            try raw.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')")
            }
            try raw.close()

            let error = #expect(throws: StoreOpenError.self) {
                _ = try SQLiteOrderStore(options: DatabaseOptions(path: path), clock: TestClock())
            }
            guard case .databaseTooNew(let where_, let unknown, let known)? = error else {
                Issue.record("expected databaseTooNew, got \(String(describing: error))")
                return
            }
            #expect(where_ == path)
            #expect(unknown == ["9999_future"])
            #expect(known == Migrations.latest)
            let text = error?.description ?? ""
            #expect(text.contains(path))
            #expect(text.contains("newer"))
            #expect(text.contains("9999_future"))

            #expect(throws: StoreOpenError.self) { try SQLiteOrderStore.migrate(path: path) }
        }
    }

    @Test("the operator views read the same database")
    func views() async throws {
        try await withStore { env in
            let store = env.store
            _ = try await store.place(order()).order
            let rush = try await store.place(order(priority: .rush)).order
            _ = try await store.place(order()).order
            let queueOrder = try await store.pool.read { db in
                try Int64.fetchAll(db, sql: "SELECT id FROM queue ORDER BY position")
            }
            #expect(queueOrder.first == rush.id)
            #expect(queueOrder.count == 3)
            let claim = try #require(try await store.claimNext(cook: "grill-1", leaseSeconds: 30))
            let cook = try await store.pool.read { db in
                try String.fetchOne(db, sql: "SELECT cook FROM kitchen WHERE id = ?", arguments: [claim.order.id])
            }
            #expect(cook == "grill-1")
            #expect(try await env.probe.scalar("SELECT count(*) FROM board") == 3)
        }
    }
}
