import NIOCore
import TicketCore
import TicketWaiting

/// One live snapshot that many event streams send (the board, the kitchen's list): computed
/// once per event however many streams watch, by one producer (`run()`), which coalesces
/// changes to a few events a second (`LivePacing`). Each stream sends the latest snapshot when
/// its generation is behind; a slow stream skips generations, it never queues them.
///
/// The producer computes only while someone watches. Each snapshot has a generation, which
/// moves on only when the content changes; generations start at the feed's creation time in
/// milliseconds, so those of a later run of the daemon are higher than any of an earlier one
/// (events are tens of milliseconds apart at the least), and a client that
/// comes back after a restart with an old `Last-Event-ID` is sent the board, not skipped.
final class LiveFeed: Sendable {
    /// A computed event, shared by every stream.
    struct Snapshot: Sendable {
        let generation: UInt64
        /// The whole `text/event-stream` event: `event:`, `id:` and `data:` lines.
        let event: ByteBuffer
    }

    /// What a stream waits for.
    enum Next: Sendable {
        case send(Snapshot)
        case ended
        case gone
    }

    /// What the streams wait on: the latest snapshot.
    struct State: Sendable {
        var generation: UInt64
        /// The newest snapshot; nil until the producer has computed one since it last started.
        var latest: Snapshot?
        /// The content of `latest` (without generation and time), to tell a change.
        var content: [UInt8] = []
        /// Shutdown: streams end, the producer returns.
        var ended = false
        /// Streams whose client went away (their waits end).
        var gone: Set<UInt64> = []
    }

    /// What the producer waits on, apart from the streams' state, so that a commit (hundreds a
    /// second under load) wakes the producer alone, not every waiting stream.
    struct Trigger: Sendable {
        /// Moved on by every commit (or anything else that may change the content).
        var changes: UInt64 = 0
        /// Moved on (with `changes`) by a change the screens should show at once (`pacing`).
        var urgent: UInt64 = 0
        /// Streams open now.
        var watchers = 0
        var nextWatcher: UInt64 = 0
        var ended = false
    }

    let name: String
    let state: WaitableState<State>
    let trigger = WaitableState(Trigger())
    private let compute: @Sendable () async throws -> [UInt8]
    private let now: @Sendable () -> Timestamp
    let pacing: LivePacing
    let refreshInterval: Duration

    /// - Parameters:
    ///   - name: the SSE `event:` name.
    ///   - compute: the snapshot's content: a JSON object (its generation and time are added).
    ///   - pacing: how often events may follow changes.
    ///   - refreshInterval: recompute this often even without a change notice (changes no
    ///     commit announces: an operator's `sqlite3`).
    init(name: String, now: @escaping @Sendable () -> Timestamp, pacing: LivePacing = LivePacing(),
         refreshInterval: Duration = .seconds(15), compute: @escaping @Sendable () async throws -> [UInt8]) {
        self.name = name
        self.compute = compute
        self.now = now
        self.pacing = pacing
        self.refreshInterval = refreshInterval
        state = WaitableState(State(generation: UInt64(max(0, now().milliseconds))))
    }

    // MARK: Streams

    /// Starts a stream: counted as a watcher (the producer computes while there is one).
    /// Call `leave(_:)` when it ends.
    func join() -> UInt64 {
        trigger.update { t in
            t.watchers += 1
            t.nextWatcher += 1
            return t.nextWatcher
        }
    }

    func leave(_ id: UInt64) {
        trigger.update { $0.watchers -= 1 }
        state.update { s in _ = s.gone.remove(id) }
    }

    /// The client of stream `id` went away: its wait ends with `.gone`.
    func clientGone(_ id: UInt64) {
        state.update { s in _ = s.gone.insert(id) }
    }

    var watchers: Int { trigger.read { $0.watchers } }

    /// Waits for a snapshot of another generation than `sent` (0: any), the end, the client's
    /// departure, or `deadline` (nil then).
    func next(after sent: UInt64, stream id: UInt64, until deadline: ContinuousClock.Instant) async -> Next? {
        await state.wait(until: deadline) { s -> Next? in
            if s.ended { return .ended }
            if s.gone.contains(id) { return .gone }
            if let latest = s.latest, latest.generation != sent { return .send(latest) }
            return nil
        }.value
    }

    // MARK: Producer

    /// Something may have changed: the producer recomputes, as `pacing` allows (`urgent`: a
    /// change the screens should show at once).
    func changed(urgent: Bool = false) {
        trigger.update { t in
            t.changes &+= 1
            if urgent { t.urgent &+= 1 }
        }
    }

    /// Ends every stream and the producer (shutdown).
    func end() {
        trigger.update { $0.ended = true }
        state.update { $0.ended = true }
    }

    var isEnded: Bool { trigger.read { $0.ended } }

    /// The producer: waits for a watcher, then computes a snapshot, and again after changes (as
    /// `pacing` allows) or every `refreshInterval`, while anyone watches; until `end()` or
    /// cancellation.
    func run() async {
        while !Task.isCancelled {
            // Nobody watches: wait for a watcher.
            guard let seen = await trigger.wait(for: { t -> Trigger? in
                if t.ended { return t }
                return t.watchers > 0 ? t : nil
            }).value, !seen.ended else { return }
            await produce()
            guard await produceWhileWatched(after: seen) else { return }
            // Nobody watches any more: forget the snapshot (it would be stale when one comes).
            state.update { $0.latest = nil }
        }
    }

    /// Recomputes after changes, as `pacing` allows, or every `refreshInterval` while anyone
    /// watches. Returns false at the end (shutdown, cancellation), true when nobody watches any
    /// more.
    private func produceWhileWatched(after seen: Trigger) async -> Bool {
        var handled = (changes: seen.changes, urgent: seen.urgent)
        var clock = LivePacing.Clock(lastEvent: .now, budget: pacing.urgentBurst)
        while !Task.isCancelled {
            let t = trigger.read { $0 }
            if t.ended { return false }
            if t.watchers == 0 { return true }
            let pending = (changes: t.changes != handled.changes, urgent: t.urgent != handled.urgent)
            let due = pacing.due(changes: pending.changes, urgent: pending.urgent, clock: &clock,
                                 refresh: refreshInterval, now: .now)
            if due.now {
                handled = (t.changes, t.urgent)
                await produce()
                clock.lastEvent = .now
                continue
            }
            // Not yet: wait for the time it will be due, or for anything new before then.
            let known = t
            let wake = await trigger.wait(until: due.at) { t -> Bool? in
                t.ended || t.watchers == 0 || t.changes != known.changes || t.urgent != known.urgent ? true : nil
            }
            if case .cancelled = wake { return false }
        }
        return false
    }

    /// Computes the content; publishes a new generation if it differs from the latest, or the
    /// same generation again when none is current (the producer just started).
    private func produce() async {
        guard let content = try? await compute() else {
            // The store did not answer (a read failed): the streams keep what they have; the
            // next change or refresh tries again.
            return
        }
        let at = now()
        let name = self.name
        state.update { s in
            if s.latest != nil, s.content == content { return }
            if s.content != content { s.generation += 1 }
            s.content = content
            s.latest = Snapshot(generation: s.generation, event: Self.event(name: name, generation: s.generation,
                                                                               at: at, content: content))
        }
    }

    /// `event: NAME`, `id: GENERATION`, `data: {"generation":G,"at":"…",…content}`.
    static func event(name: String, generation: UInt64, at: Timestamp, content: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(content.count + 96)
        buffer.writeString("event: \(name)\nid: \(generation)\ndata: {\"generation\":\(generation),\"at\":\"")
        var time: [UInt8] = []
        at.appendRFC3339(to: &time)
        buffer.writeBytes(time)
        buffer.writeString("\"")
        // The content is a JSON object: its members follow.
        if content.count > 2 {
            buffer.writeString(",")
            buffer.writeBytes(content.dropFirst())
        } else {
            buffer.writeString("}")
        }
        buffer.writeString("\n\n")
        return buffer
    }
}
