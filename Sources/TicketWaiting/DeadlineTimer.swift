import Dispatch
import Synchronization

/// One timer for many deadlines: a min-heap of deadlines and a single dispatch timer armed for
/// the earliest, so that ten thousand waiting long polls cost a heap entry each rather than a
/// sleeping task each. Expiry calls the entry's action on the timer's queue; an entry cancelled
/// first is never called.
public final class DeadlineTimer: Sendable {
    /// The process's timer, shared by every wait that names no other.
    public static let shared = DeadlineTimer()

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var id: UInt64
    }

    private struct State {
        /// Min-heap on `deadline`; may hold cancelled entries (those not in `live`), at most as
        /// many again as the live ones (then it is compacted).
        var heap: [Entry] = []
        var live: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
        /// The deadline the dispatch timer is armed for, if any.
        var armedFor: ContinuousClock.Instant?
        var source: (any DispatchSourceTimer)?
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "ticketd.deadlines")

    public init() {}

    deinit {
        state.withLock { $0.source?.cancel() }
    }

    /// Live (not yet expired, not cancelled) deadlines.
    public var count: Int { state.withLock { $0.live.count } }

    /// Calls `action` once `deadline` has passed (on the timer's queue), unless `cancel` comes
    /// first. Returns the handle for `cancel`.
    public func schedule(at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { s in
            s.nextID += 1
            let id = s.nextID
            s.live[id] = action
            Self.push(Entry(deadline: deadline, id: id), into: &s.heap)
            if s.armedFor.map({ deadline < $0 }) ?? true {
                arm(&s, for: deadline)
            }
            return id
        }
    }

    /// Forgets the deadline `id`; its action is not called (unless it is running already).
    public func cancel(_ id: UInt64) {
        state.withLock { s in
            guard s.live.removeValue(forKey: id) != nil else { return }
            if s.live.isEmpty {
                s.heap.removeAll(keepingCapacity: false)
            } else if s.heap.count > 64 && s.heap.count > 2 * s.live.count {
                let live = s.live
                s.heap.removeAll { live[$0.id] == nil }
                Self.heapify(&s.heap)
            }
            // The timer stays armed: an early wake-up finds nothing due and re-arms.
        }
    }

    private func arm(_ s: inout State, for deadline: ContinuousClock.Instant) {
        let source: any DispatchSourceTimer
        if let existing = s.source {
            source = existing
        } else {
            source = DispatchSource.makeTimerSource(queue: queue)
            source.setEventHandler { [weak self] in self?.fire() }
            s.source = source
            source.resume()
        }
        s.armedFor = deadline
        source.schedule(deadline: .now() + Self.dispatchInterval(deadline - .now), repeating: .never,
                        leeway: .microseconds(100))
    }

    /// The timer went off: runs every action that is due, re-arms for the next deadline.
    private func fire() {
        let now = ContinuousClock.now
        let due = state.withLock { s -> [@Sendable () -> Void] in
            var due: [@Sendable () -> Void] = []
            while let first = s.heap.first, first.deadline <= now {
                Self.popFirst(&s.heap)
                if let action = s.live.removeValue(forKey: first.id) { due.append(action) }
            }
            // Drop cancelled entries at the top, so the timer is armed for a live deadline.
            while let first = s.heap.first, s.live[first.id] == nil { Self.popFirst(&s.heap) }
            if let next = s.heap.first {
                arm(&s, for: next.deadline)
            } else {
                s.armedFor = nil
            }
            return due
        }
        for action in due { action() }
    }

    private static func dispatchInterval(_ d: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = d.components
        guard seconds >= 0 else { return .nanoseconds(0) }
        guard seconds < 1_000_000_000 else { return .seconds(1_000_000_000) }
        // Rounded up, so the timer never goes off before the deadline.
        let nanos = seconds * 1_000_000_000 + (attoseconds + 999_999_999) / 1_000_000_000
        return .nanoseconds(Int(nanos))
    }

    // MARK: Binary heap on `deadline`

    private static func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func popFirst(_ heap: inout [Entry]) {
        guard heap.count > 1 else {
            heap.removeAll(keepingCapacity: true)
            return
        }
        heap[0] = heap.removeLast()
        siftDown(&heap, from: 0)
    }

    private static func siftDown(_ heap: inout [Entry], from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            let right = left + 1
            if right < heap.count && heap[right].deadline < heap[left].deadline { smallest = right }
            guard heap[smallest].deadline < heap[parent].deadline else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }

    private static func heapify(_ heap: inout [Entry]) {
        guard heap.count > 1 else { return }
        for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(&heap, from: i) }
    }
}
