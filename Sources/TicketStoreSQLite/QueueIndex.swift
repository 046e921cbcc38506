import GRDB
import Synchronization
import TicketCore
import TicketStore

/// The queued orders in claim order (rush first, then by id), kept in memory so that a
/// position or the queue's length costs a binary search instead of counting index entries
/// (which grew with the queue: 100,000 queued orders made every poll count thousands).
///
/// It follows committed changes only: the writer applies each batch's changed orders after the
/// commit. Writes by other processes (an operator's `sqlite3`) are noticed by `PRAGMA
/// data_version` on the writer's connection at the start of a batch, and the index is rebuilt
/// from the table.
final class QueueIndex: Sendable {
    private struct State {
        /// Ascending ids of queued orders, one array per priority.
        var rush: [Int64] = []
        var normal: [Int64] = []
        /// Leading entries of each array that were claimed (removed from the front cheaply).
        var rushHead = 0
        var normalHead = 0
        var dataVersion: Int?
    }

    private let state = Mutex(State())

    init() {}

    /// Queued orders now.
    var count: Int { state.withLock { ($0.rush.count - $0.rushHead) + ($0.normal.count - $0.normalHead) } }

    /// Queued rush orders now.
    var rushCount: Int { state.withLock { $0.rush.count - $0.rushHead } }

    /// Orders claimed before an order of `priority` and `id` (whether or not it is queued).
    func position(id: Int64, priority: OrderPriority) -> Int {
        state.withLock { s in
            switch priority {
            case .rush:
                return Self.lowerBound(s.rush, from: s.rushHead, id) - s.rushHead
            case .normal:
                return (s.rush.count - s.rushHead) + Self.lowerBound(s.normal, from: s.normalHead, id) - s.normalHead
            }
        }
    }

    /// Applies committed changes in commit order: a queued order is in, any other status out.
    func apply(_ changes: [Order]) {
        guard !changes.isEmpty else { return }
        state.withLock { s in
            for order in changes {
                if order.status == .queued {
                    order.priority == .rush ? Self.insert(&s.rush, head: s.rushHead, order.id)
                        : Self.insert(&s.normal, head: s.normalHead, order.id)
                } else if order.priority == .rush {
                    Self.remove(&s.rush, head: &s.rushHead, order.id)
                } else {
                    Self.remove(&s.normal, head: &s.normalHead, order.id)
                }
            }
        }
    }

    /// Rebuilds from the table when another connection has committed since the last look
    /// (and the first time). Runs on the writer's connection, inside its transaction. Returns
    /// true when it rebuilt (other caches of committed state are stale then too).
    @discardableResult
    func refreshIfChangedOutside(_ db: Database) throws -> Bool {
        let version = try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version"))
        guard state.withLock({ $0.dataVersion }) != version || version == nil else { return false }
        var rush: [Int64] = []
        var normal: [Int64] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT id, priority FROM orders WHERE status = 'queued' ORDER BY id")
        while let row = try rows.next() {
            let priority: String = row[1]
            if priority == OrderPriority.rush.rawValue { rush.append(row[0]) } else { normal.append(row[0]) }
        }
        state.withLock { s in
            s.rush = rush
            s.normal = normal
            s.rushHead = 0
            s.normalHead = 0
            s.dataVersion = version
        }
        return true
    }

    private static func lowerBound(_ ids: [Int64], from head: Int, _ id: Int64) -> Int {
        var low = head, high = ids.count
        while low < high {
            let mid = (low + high) / 2
            if ids[mid] < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private static func insert(_ ids: inout [Int64], head: Int, _ id: Int64) {
        if ids.count == head || ids[ids.count - 1] < id {
            ids.append(id)  // the common case: a new order
            return
        }
        let at = lowerBound(ids, from: head, id)
        if at < ids.count, ids[at] == id { return }
        ids.insert(id, at: at)
    }

    private static func remove(_ ids: inout [Int64], head: inout Int, _ id: Int64) {
        let at = lowerBound(ids, from: head, id)
        guard at < ids.count, ids[at] == id else { return }
        if at == head {
            head += 1  // the common case: a claim takes the first
            if head > 4096, head * 2 > ids.count {
                ids.removeFirst(head)
                head = 0
            }
        } else {
            ids.remove(at: at)
        }
    }
}
