import Synchronization
import TicketCore

/// The latest committed state of live orders, by ticket id, so that a poll answers from memory
/// instead of a reader connection (a reader hop costs more than the rest of a poll).
///
/// Only the writer fills it, after each commit and in commit order, so an entry is never older
/// than the database: a poll never sees a state go backwards. A miss (an order from before
/// this start, a final one, one evicted) reads the database and does not fill the cache, since
/// a reader's row could be overtaken by a commit in between. Orders reaching a final state leave
/// it; past `capacity` entries it starts over (any entry may be dropped, none may be stale).
/// Writes by other processes empty it when the writer notices them (`PRAGMA data_version`, at
/// least at every sweep), so an operator's `sqlite3` change shows within the sweep interval.
final class TicketCache: Sendable {
    static let defaultCapacity = 50_000

    private let orders = Mutex<[String: Order]>([:])
    private let capacity: Int

    init(capacity: Int = defaultCapacity) { self.capacity = max(1, capacity) }

    /// The cached state of `ticket`, if any.
    func order(ticket: String) -> Order? {
        orders.withLock { $0[ticket] }
    }

    /// Applies committed changes, in commit order.
    func apply(_ changes: [Order]) {
        guard !changes.isEmpty else { return }
        orders.withLock { cache in
            for order in changes {
                if order.status.isFinal {
                    cache.removeValue(forKey: order.ticket)
                } else {
                    if cache.count >= capacity, cache[order.ticket] == nil { cache.removeAll(keepingCapacity: true) }
                    cache[order.ticket] = order
                }
            }
        }
    }

    /// Forgets everything (another process wrote to the database).
    func removeAll() {
        orders.withLock { $0.removeAll() }
    }

    var count: Int { orders.withLock { $0.count } }
}
