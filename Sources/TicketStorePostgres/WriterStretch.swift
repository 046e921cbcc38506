import PostgresNIO
import Synchronization

/// One stretch of the PostgreSQL writer: the batches it runs on one leased connection, what is
/// in flight, and whether the writer still waits for it. Ended once: by the stretch itself when
/// nothing is pending, or by the writer's watchdog (`abandon`), which fails what was in flight;
/// an abandoned stretch that wakes up later takes nothing more.
final class Stretch: Sendable {
    struct State {
        /// The connection, and when the running batch (or the wait for the connection) started.
        var watch = ConnectionWatch()
        /// The requests of the running batch, and the parked writes it serves.
        var inFlight: [any PendingPostgresWrite] = []
        var ended = false
        /// The writer loop, waiting for this stretch.
        var done: CheckedContinuation<Void, Never>?
    }
    let state = Mutex(State())

    /// Starts the first batch; false when the stretch was abandoned already.
    func begin(_ batch: [any PendingPostgresWrite]) -> Bool {
        state.withLock { s in
            guard !s.ended else { return false }
            s.inFlight = batch
            s.watch.started = monotonicNanoseconds()
            return true
        }
    }

    /// The pool gave a connection; false when the stretch was abandoned meanwhile (hand it back).
    func attach(_ connection: PostgresConnection) -> Bool {
        state.withLock { s in
            guard !s.ended else { return false }
            s.watch.attach(connection)
            return true
        }
    }

    /// Takes the next batch (under this stretch's lock, so that an abandoned stretch never takes
    /// what the writer's next stretch should run); nil when nothing is pending or it was abandoned.
    func next(_ take: () -> [any PendingPostgresWrite]?) -> [any PendingPostgresWrite]? {
        state.withLock { s in
            s.watch.started = 0
            guard !s.ended, let batch = take() else { return nil }
            s.inFlight = batch
            s.watch.started = monotonicNanoseconds()
            return batch
        }
    }

    /// Parked writes the running batch serves: failed too if it is abandoned.
    func add(_ served: [any PendingPostgresWrite]) {
        state.withLock { $0.inFlight.append(contentsOf: served) }
    }

    var inFlight: [any PendingPostgresWrite] { state.withLock { $0.inFlight } }

    /// Why the watchdog should abandon this stretch, if it should, and the connection to close
    /// (nil when it is closed already).
    func verdict(now: UInt64, _ rules: ConnectionWatch.Rules) -> (String, PostgresConnection?)? {
        state.withLock { s in s.ended ? nil : s.watch.verdict(now: now, rules) }
    }

    /// Ends the stretch for the writer and returns what was in flight and not yet answered.
    func abandon() -> [any PendingPostgresWrite] {
        let (inFlight, done) = state.withLock { s -> ([any PendingPostgresWrite], CheckedContinuation<Void, Never>?) in
            guard !s.ended else { return ([], nil) }
            s.ended = true
            defer { s.done = nil }
            return (s.inFlight.filter { !$0.isEnded }, s.done)
        }
        done?.resume()
        return inFlight
    }

    /// The stretch ran out of work (or failed and answered its requests).
    func end() {
        let done = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.ended = true
            defer { s.done = nil }
            return s.done
        }
        done?.resume()
    }
}
