import CSQLite
import Foundation
import Hummingbird
import TicketCore

/// The durable-route yardstick (`ticketd-ceiling --durable PATH`): `POST /orders` parses a small
/// JSON body and appends one ~300-byte row to a SQLite table in WAL with `synchronous=FULL`
/// through a minimal group-commit writer, answering after the commit. The least work any
/// durable intake can do on this machine: no numbers, no events, no idempotency, no savepoints.
///
/// With `rows: .ticketd` (`--rows ticketd`, on a database that `ticketd migrate` made) each request
/// writes ticketd's own two rows instead: an `orders` row with every index of ticketd's schema and
/// its `order_events` row, numbers counted in memory and `ticket_counter` written once per batch.
/// `scripts/bench` runs it beside the durable route (`durable_rows_*`): the least any intake
/// writing ticketd's rows can cost here, without ticketd's checks, caches, change feed or answers
/// (BENCHMARKS.md, issue 16).
///
/// With `rows: .order` (`--rows order`, also on a database that `ticketd migrate` made) each
/// request writes the `orders` row alone: no event row, no counter, and the queue and
/// live-number indexes dropped at start. What is left is the order row as an operator reads it
/// (its columns, CHECKs, the ticket's UNIQUE index, the conditions of the other partial indexes):
/// `scripts/intake-ab` runs it to show what the order row itself costs.
final class DurableLog: @unchecked Sendable {
    enum Rows: String { case log, ticketd, order }
    private var db: OpaquePointer?
    private var insert: OpaquePointer?
    private var insertEvent: OpaquePointer?
    private var counter: OpaquePointer?
    private var number: Int64 = 0
    private let rows: Rows
    private let condition = NSCondition()
    private var pending: [(row: String, done: CheckedContinuation<Int64, any Error>)] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(path: String, rows: Rows = .log) throws {
        self.rows = rows
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw Failure(description: "cannot open \(path)") }
        var setup = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL"]
        switch rows {
        case .log: setup.append("CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, at TEXT NOT NULL, row TEXT NOT NULL)")
        case .order: setup += ["DROP INDEX IF EXISTS orders_queue", "DROP INDEX IF EXISTS orders_live_number"]
        case .ticketd: break
        }
        for statement in setup {
            guard sqlite3_exec(db, statement, nil, nil, nil) == SQLITE_OK else {
                throw Failure(description: "\(statement): \(String(cString: sqlite3_errmsg(db)))")
            }
        }
        func prepare(_ sql: String, _ statement: inout OpaquePointer?) throws {
            guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK else {
                throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
            }
        }
        switch rows {
        case .log:
            try prepare("INSERT INTO log (at, row) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?)", &insert)
        case .ticketd, .order:
            try prepare("""
                INSERT INTO orders (ticket, number, status, priority, items, version, attempts, max_attempts,
                                    cook_seconds, available_at, created_at)
                VALUES (?1, ?2, 'queued', 'normal', ?3, 1, 0, 3, 3.0, strftime('%Y-%m-%dT%H:%M:%fZ','now'),
                        strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                """, &insert)
            try prepare("""
                INSERT INTO order_events (order_id, from_status, to_status, at, detail)
                VALUES (?1, NULL, 'queued', strftime('%Y-%m-%dT%H:%M:%fZ','now'), 'placed')
                """, &insertEvent)
            try prepare("INSERT OR REPLACE INTO ticket_counter (id, last_number) VALUES (1, ?1)", &counter)
            var last: OpaquePointer?
            try prepare("SELECT coalesce(max(number), 0) FROM orders", &last)
            if sqlite3_step(last) == SQLITE_ROW { number = sqlite3_column_int64(last, 0) }
            sqlite3_finalize(last)
        }
        let thread = Thread { [self] in run() }
        thread.name = "durable-writer"
        thread.start()
    }

    /// Appends `row`; returns its id once the batch holding it has committed.
    func append(_ row: String) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            pending.append((row, continuation))
            condition.signal()
            condition.unlock()
        }
    }

    /// The writer: takes what is pending, one transaction, one commit (one fsync), resumes.
    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            var ids: [Int64] = []
            ids.reserveCapacity(batch.count)
            var ok = sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK
            for item in batch where ok {
                ok = rows == .log ? appendLog(item.row) : appendOrder(item.row, event: rows == .ticketd)
                ids.append(sqlite3_last_insert_rowid(db))
            }
            if ok && rows == .ticketd {
                sqlite3_bind_int64(counter, 1, number)
                ok = sqlite3_step(counter) == SQLITE_DONE
                sqlite3_reset(counter)
            }
            ok = ok && sqlite3_exec(db, "COMMIT", nil, nil, nil) == SQLITE_OK
            if !ok {
                let message = String(cString: sqlite3_errmsg(db))
                _ = sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
                for item in batch { item.done.resume(throwing: Failure(description: message)) }
                continue
            }
            for (item, id) in zip(batch, ids) { item.done.resume(returning: id) }
        }
    }
}

private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
private let clock = SystemWallClock()

extension DurableLog {
    private func appendLog(_ row: String) -> Bool {
        sqlite3_bind_text(insert, 1, row, -1, transient)
        defer { sqlite3_reset(insert) }
        return sqlite3_step(insert) == SQLITE_DONE
    }

    /// ticketd's rows for one order (the event row only with `event`): `body` stands in for its
    /// items; the ticket id is made as ticketd makes it.
    private func appendOrder(_ body: String, event: Bool) -> Bool {
        number += 1
        let ticket = TicketID.generateTicket(at: clock.now())
        sqlite3_bind_text(insert, 1, ticket, -1, transient)
        sqlite3_bind_int64(insert, 2, number)
        sqlite3_bind_text(insert, 3, body, -1, transient)
        let inserted = sqlite3_step(insert) == SQLITE_DONE
        sqlite3_reset(insert)
        guard inserted, event else { return inserted }
        sqlite3_bind_int64(insertEvent, 1, sqlite3_last_insert_rowid(db))
        defer { sqlite3_reset(insertEvent) }
        return sqlite3_step(insertEvent) == SQLITE_DONE
    }

}

/// Registers `POST /orders` on `router`, writing through `log`.
func addDurableRoute(to router: Router<BasicRequestContext>, log: DurableLog) {
    router.post("/orders") { request, _ -> Response in
        var request = request
        let body = try await request.collectBody(upTo: 65_536)
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
              let items = object["items"] as? [Any], !items.isEmpty else {
            return Response(status: .badRequest)
        }
        // About 300 bytes: the body as sent, padded, as an order row would hold its fields.
        let text = String(buffer: body)
        let row = text + String(repeating: " ", count: max(0, 300 - text.utf8.count))
        let id = try await log.append(row)
        return Response(status: .created, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"id":\#(id)}"#)))
    }
}
