import TicketCore

/// The queued orders' ids in claim order (rush first, then by id), as sorted arrays: a position
/// or the queue's length is a binary search instead of a count over index entries (which grew
/// with the queue: 100,000 queued orders made every poll count thousands). A value each store's
/// in-memory queue index keeps behind its lock and feeds with committed changes.
public struct QueueOrder: Sendable {
    /// Ascending ids of queued orders, one array per priority.
    private var rush: [Int64] = []
    private var normal: [Int64] = []
    /// Leading entries of each array that were claimed (removed from the front cheaply).
    private var rushHead = 0
    private var normalHead = 0

    public init() {}

    /// The queue as read from a table: (id, priority) of every queued order, in any order.
    public init(_ queued: [(id: Int64, priority: OrderPriority)]) {
        for q in queued.sorted(by: { $0.id < $1.id }) {
            if q.priority == .rush { rush.append(q.id) } else { normal.append(q.id) }
        }
    }

    /// Queued orders now.
    public var count: Int { (rush.count - rushHead) + (normal.count - normalHead) }

    /// Queued rush orders now.
    public var rushCount: Int { rush.count - rushHead }

    /// Orders claimed before an order of `priority` and `id` (whether or not it is queued).
    public func position(id: Int64, priority: OrderPriority) -> Int {
        switch priority {
        case .rush:
            return Self.lowerBound(rush, from: rushHead, id) - rushHead
        case .normal:
            return (rush.count - rushHead) + Self.lowerBound(normal, from: normalHead, id) - normalHead
        }
    }

    /// An order's committed state: queued, it is in; in any other status, out.
    public mutating func update(id: Int64, priority: OrderPriority, queued: Bool) {
        switch (priority, queued) {
        case (.rush, true): Self.insert(&rush, head: rushHead, id)
        case (.normal, true): Self.insert(&normal, head: normalHead, id)
        case (.rush, false): Self.remove(&rush, head: &rushHead, id)
        case (.normal, false): Self.remove(&normal, head: &normalHead, id)
        }
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
