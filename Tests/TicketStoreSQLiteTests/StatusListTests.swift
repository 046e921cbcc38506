import Foundation
import GRDB
import Testing
import TicketCore
import TicketStore
@testable import TicketStoreSQLite
import TicketTestSupport

/// Every list of statuses in the schema (frozen in migrations) and in the store's SQL is held
/// against `OrderStatus`: a new status fails here until every list that must name it does.
@Suite("Status lists against OrderStatus", .timeLimit(.minutes(1)))
struct StatusListTests {
    /// The quoted words of the condition that follows `marker` in `sql`, written as ORs of
    /// equalities (migration 0002): from `marker` to the end of its parenthesized group or line.
    static func alternatives(in sql: String, after marker: String) -> [String]? {
        guard let start = sql.range(of: marker) else { return nil }
        var depth = 0
        var end = sql.endIndex
        for i in sql[start.upperBound...].indices {
            switch sql[i] {
            case "(": depth += 1
            case ")" where depth == 0, "\n": end = i
            case ")": depth -= 1
            default: continue
            }
            if end != sql.endIndex { break }
        }
        let condition = String(sql[start.upperBound..<end])
        let words = condition.split(separator: "'", omittingEmptySubsequences: false).enumerated()
            .filter { $0.offset % 2 == 1 }.map { String($0.element) }
        return words.isEmpty ? nil : words
    }

    /// The quoted words of the first `IN (…)` after `marker` in `sql`.
    static func quotedList(in sql: String, after marker: String) -> [String]? {
        guard let start = sql.range(of: marker) else { return nil }
        let rest = sql[start.upperBound...]
        guard let open = rest.range(of: "IN ("), let close = rest[open.upperBound...].firstIndex(of: ")") else { return nil }
        return rest[open.upperBound..<close].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
    }

    @Test("the CHECK constraints of orders.status and order_events' statuses list every status, and only those")
    func checkConstraints() async throws {
        try await withStore { env in
            let tables = try await env.store.pool.read { db in
                try [String: String](uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                    .map { ($0["name"] as String, $0["sql"] as String) })
            }
            let all = Set(OrderStatus.allCases.map(\.rawValue))
            let orders = try #require(tables["orders"])
            #expect(Set(try #require(Self.alternatives(in: orders, after: "status           TEXT    NOT NULL CHECK ("))) == all)
            let events = try #require(tables["order_events"])
            #expect(Set(try #require(Self.alternatives(in: events, after: "from_status TEXT CHECK ("))) == all)
            #expect(Set(try #require(Self.alternatives(in: events, after: "to_status   TEXT NOT NULL CHECK ("))) == all)
            // ORs of equalities, not `IN (…)`: SQLite checks a list of three or more through a
            // temporary b-tree on every insert and update.
            #expect(!orders.contains("status IN") && !events.contains("status IN"))
        }
    }

    @Test("the live-number index and the live queries list the live statuses; the pruner the final ones")
    func liveAndFinalLists() async throws {
        try await withStore { env in
            let index = try await env.store.pool.read { db in
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'orders_live_number'")
            }
            let live = Set(OrderStatus.live.map(\.rawValue))
            let indexSQL = try #require(index)
            #expect(Set(try #require(Self.alternatives(in: indexSQL, after: "WHERE "))) == live)
            // The queries that name the index repeat its condition word for word.
            let condition = try #require(indexSQL.range(of: "WHERE ").map { String(indexSQL[$0.upperBound...]) })
            #expect(condition == SQL.isLive)
            for query in [SQL.board, SQL.boardPreparing, SQL.numberIsLive, SQL.highestLiveNumber] {
                #expect(query.contains(SQL.isLive), "\(query)")
            }
            // The status index leaves the queue out; the queries that name it repeat its condition.
            let pastQueueIndex = try #require(try await env.store.pool.read { db in
                try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'orders_past_queue'")
            })
            #expect(Set(try #require(Self.alternatives(in: pastQueueIndex, after: "WHERE "))) ==
                    Set(OrderStatus.allCases.filter { $0 != .queued }.map(\.rawValue)))
            #expect(pastQueueIndex.hasSuffix("WHERE " + SQL.isPastQueue), "\(pastQueueIndex)")
            let final = Set(OrderStatus.allCases.filter(\.isFinal).map(\.rawValue))
            #expect(Set(try #require(Self.quotedList(in: SQL.pruneFinished, after: "AND status"))) == final)
        }
    }

    @Test("every status named in the store's SQL is an OrderStatus")
    func namedStatusesExist() throws {
        let statements = [SQL.board, SQL.boardPreparing, SQL.boardReady, SQL.count(.cooking), SQL.count(.queued), SQL.listQueuedOfPriority, SQL.listPastQueue(.ready), SQL.position, SQL.nextAvailable, SQL.anyClaimable, SQL.numberIsLive, SQL.highestLiveNumber,
                          SQL.insertOrder, SQL.claimable, SQL.claim(sets: "x = 1"), SQL.claimEvents, SQL.readyEventsByOwner, SQL.renewLease,
                          SQL.leaseHolder, SQL.expiredLeases, SQL.allCooking, SQL.uncollected, SQL.pruneFinished]
        let known = Set(OrderStatus.allCases.map(\.rawValue))
        let priorities = Set(OrderPriority.allCases.map(\.rawValue))
        let pattern = try NSRegularExpression(pattern: "'([a-z_]+)'")
        for sql in statements {
            for match in pattern.matches(in: sql, range: NSRange(sql.startIndex..., in: sql)) {
                guard let range = Range(match.range(at: 1), in: sql) else { continue }
                let word = String(sql[range])
                #expect(known.contains(word) || priorities.contains(word), "'\(word)' in \(sql)")
            }
        }
    }
}
