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
            #expect(Set(try #require(Self.quotedList(in: orders, after: "status           TEXT"))) == all)
            let events = try #require(tables["order_events"])
            #expect(Set(try #require(Self.quotedList(in: events, after: "from_status TEXT"))) == all)
            #expect(Set(try #require(Self.quotedList(in: events, after: "to_status   TEXT"))) == all)
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
            #expect(Set(try #require(Self.quotedList(in: indexSQL, after: "WHERE status"))) == live)
            #expect(Set(try #require(Self.quotedList(in: SQL.board, after: "WHERE status"))) == live)
            #expect(Set(try #require(Self.quotedList(in: SQL.numberIsLive, after: "AND status"))) == live)
            let final = Set(OrderStatus.allCases.filter(\.isFinal).map(\.rawValue))
            #expect(Set(try #require(Self.quotedList(in: SQL.pruneFinished, after: "AND status"))) == final)
        }
    }

    @Test("every status named in the store's SQL is an OrderStatus")
    func namedStatusesExist() throws {
        let statements = [SQL.board, SQL.boardPreparing, SQL.boardReady, SQL.countLive, SQL.position, SQL.nextAvailable, SQL.anyClaimable, SQL.numberIsLive,
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
