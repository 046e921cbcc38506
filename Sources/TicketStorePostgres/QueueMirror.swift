import Synchronization
import TicketCore
import TicketStore

/// This node's copy of the queued orders in claim order (rush first, then by id), so that a
/// position costs a binary search instead of a count over the queued index: measured at
/// 100,000 queued orders, the count took milliseconds for the newest ticket (BENCHMARKS.md).
///
/// It follows every node's commits: this node's own after each commit, the others' from their
/// notifications. Those two can arrive out of commit order, so every change carries the order's
/// version and an older version than one already seen for that order is ignored. After a gap in
/// the notifications (the LISTEN connection lost, a reload marker) it is rebuilt from the table;
/// changes that arrive while the rebuild reads are applied again on top of what it read.
final class QueueMirror: Sendable {
    private struct State {
        var queue = QueueOrder()
        /// The newest version seen of each order not known to be final.
        var versions: [Int64: Int] = [:]
        /// Orders seen reaching a final state, oldest first (their versions are kept a while, so
        /// that a late notification of an earlier version cannot queue them again).
        var finals: [Int64] = []
        var finalsHead = 0
        /// Changes applied while a rebuild reads the table.
        var duringRebuild: [ChangeNotice.Entry]?
    }

    private let state = Mutex(State())
    /// When a change last reached the mirror (monotonic nanoseconds; 0: never).
    private let changedAt = Atomic<UInt64>(0)
    static let keptFinals = 65_536

    init() {}

    var count: Int { state.withLock { $0.queue.count } }

    var rushCount: Int { state.withLock { $0.queue.rushCount } }

    /// Orders claimed before an order of `priority` and `id` (whether or not it is queued).
    func position(id: Int64, priority: OrderPriority) -> Int {
        state.withLock { $0.queue.position(id: id, priority: priority) }
    }

    func apply(_ orders: [Order]) {
        apply(orders.map(ChangeNotice.entry))
    }

    /// Applies changes: a queued order is in, any other status out; a version older than one
    /// seen is ignored.
    func apply(_ entries: [ChangeNotice.Entry]) {
        guard !entries.isEmpty else { return }
        changedAt.store(monotonicNanoseconds(), ordering: .relaxed)
        state.withLock { s in
            s.duringRebuild?.append(contentsOf: entries)
            for e in entries { Self.apply(e, to: &s) }
        }
    }

    private static func apply(_ e: ChangeNotice.Entry, to s: inout State) {
        if let seen = s.versions[e.id], seen >= e.version { return }
        s.versions[e.id] = e.version
        s.queue.update(id: e.id, priority: e.priority, queued: e.status == .queued)
        if e.status.isFinal {
            s.finals.append(e.id)
            if s.finals.count - s.finalsHead > keptFinals {
                s.versions[s.finals[s.finalsHead]] = nil
                s.finalsHead += 1
                if s.finalsHead > 4096, s.finalsHead * 2 > s.finals.count {
                    s.finals.removeFirst(s.finalsHead)
                    s.finalsHead = 0
                }
            }
        }
    }

    /// Nanoseconds since a change last reached the mirror (its own node's commits, another node's
    /// notification, a rebuild); nil when none ever did.
    var quietNanoseconds: UInt64? {
        let at = changedAt.load(ordering: .relaxed)
        return at == 0 ? nil : monotonicNanoseconds() &- at
    }

    /// An opaque mark of the mirror's last change: equal marks, nothing changed in between.
    var changeMark: UInt64 { changedAt.load(ordering: .relaxed) }

    /// Marks the start of a rebuild: changes applied from now on are kept to be applied again.
    func beginRebuild() {
        state.withLock { $0.duringRebuild = [] }
    }

    /// Replaces the queue with `queued` (id, priority, version; read after `beginRebuild`), then
    /// applies again what arrived meanwhile.
    func finishRebuild(_ queued: [(id: Int64, priority: OrderPriority, version: Int)]) {
        changedAt.store(monotonicNanoseconds(), ordering: .relaxed)
        state.withLock { s in
            let arrived = s.duringRebuild ?? []
            s.duringRebuild = nil
            s.queue = QueueOrder(queued.map { ($0.id, $0.priority) })
            var read: [Int64: Int] = [:]
            for q in queued {
                s.versions[q.id] = q.version
                read[q.id] = q.version
            }
            // What arrived meanwhile, in arrival order: the newest change of each order last; a
            // change older than what the rebuild read is skipped.
            var arrivedVersions: [Int64: Int] = [:]
            for e in arrived {
                if let a = arrivedVersions[e.id], a >= e.version { continue }
                arrivedVersions[e.id] = e.version
                if let r = read[e.id], r >= e.version { continue }
                s.versions[e.id] = e.version - 1
                Self.apply(e, to: &s)
            }
        }
    }
}
