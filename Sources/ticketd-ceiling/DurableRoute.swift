import CSQLite
import Foundation
import Hummingbird

/// The durable-route yardstick (`ticketd-ceiling --durable PATH`): `POST /orders` parses a small
/// JSON body and appends one ~300-byte row to a SQLite table in WAL with `synchronous=FULL`
/// through a minimal group-commit writer, answering after the commit. The least work any
/// durable intake can do on this machine: no numbers, no events, no idempotency, no savepoints.
final class DurableLog: @unchecked Sendable {
    private var db: OpaquePointer?
    private var insert: OpaquePointer?
    private let condition = NSCondition()
    private var pending: [(row: String, done: CheckedContinuation<Int64, any Error>)] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(path: String) throws {
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw Failure(description: "cannot open \(path)") }
        for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
                       "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, at TEXT NOT NULL, row TEXT NOT NULL)"] {
            guard sqlite3_exec(db, pragma, nil, nil, nil) == SQLITE_OK else {
                throw Failure(description: "\(pragma): \(String(cString: sqlite3_errmsg(db)))")
            }
        }
        guard sqlite3_prepare_v2(db, "INSERT INTO log (at, row) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?)",
                                 -1, &insert, nil) == SQLITE_OK else {
            throw Failure(description: String(cString: sqlite3_errmsg(db)))
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
                sqlite3_bind_text(insert, 1, item.row, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
                ok = sqlite3_step(insert) == SQLITE_DONE
                sqlite3_reset(insert)
                ids.append(sqlite3_last_insert_rowid(db))
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
