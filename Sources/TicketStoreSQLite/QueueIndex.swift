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
        var queue = QueueOrder()
        var dataVersion: Int?
    }

    private let state = Mutex(State())

    init() {}

    /// Queued orders now.
    var count: Int { state.withLock { $0.queue.count } }

    /// Queued rush orders now.
    var rushCount: Int { state.withLock { $0.queue.rushCount } }

    /// Orders claimed before an order of `priority` and `id` (whether or not it is queued).
    func position(id: Int64, priority: OrderPriority) -> Int {
        state.withLock { $0.queue.position(id: id, priority: priority) }
    }

    /// Applies committed changes in commit order: a queued order is in, any other status out.
    func apply(_ changes: [Order]) {
        guard !changes.isEmpty else { return }
        state.withLock { s in
            for order in changes {
                s.queue.update(id: order.id, priority: order.priority, queued: order.status == .queued)
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
        var queued: [(id: Int64, priority: OrderPriority)] = []
        // In `orders_queue`'s own order (QueueOrder sorts by id): no sort of every queued order.
        let rows = try Row.fetchCursor(db, sql: "SELECT id, priority FROM orders WHERE status = 'queued' ORDER BY priority DESC, id")
        while let row = try rows.next() {
            let priority: String = row[1]
            queued.append((row[0], priority == OrderPriority.rush.rawValue ? .rush : .normal))
        }
        let queue = QueueOrder(queued)
        state.withLock { s in
            s.queue = queue
            s.dataVersion = version
        }
        return true
    }
}
