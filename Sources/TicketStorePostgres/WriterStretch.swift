import PostgresNIO
import Synchronization

/// One stretch of the PostgreSQL writer: the batches it runs on one leased connection, what is
/// in flight, and whether the writer still waits for it. Ended once: by the stretch itself when
/// nothing is pending, or by the writer's watchdog (`abandon`), which fails what was in flight;
/// an abandoned stretch that wakes up later takes nothing more.
final class Stretch: Sendable {
    struct State {
        var connection: PostgresConnection?
        /// The requests of the running batch, and the parked writes it serves.
        var inFlight: [any PendingPostgresWrite] = []
        /// Monotonic start of the running batch (0: none), and when its connection was first seen closed.
        var batchStarted: UInt64 = 0
        var closedSince: UInt64 = 0
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
            s.batchStarted = monotonicNanoseconds()
            return true
        }
    }

    /// The pool gave a connection; false when the stretch was abandoned meanwhile (hand it back).
    func attach(_ connection: PostgresConnection) -> Bool {
        state.withLock { s in
            guard !s.ended else { return false }
            s.connection = connection
            s.batchStarted = monotonicNanoseconds()
            return true
        }
    }

    /// Takes the next batch (under this stretch's lock, so that an abandoned stretch never takes
    /// what the writer's next stretch should run); nil when nothing is pending or it was abandoned.
    func next(_ take: () -> [any PendingPostgresWrite]?) -> [any PendingPostgresWrite]? {
        state.withLock { s in
            s.batchStarted = 0
            guard !s.ended, let batch = take() else { return nil }
            s.inFlight = batch
            s.batchStarted = monotonicNanoseconds()
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
    func verdict(now: UInt64, leaseLimit: Duration, batchLimit: Duration, grace: Duration) -> (String, PostgresConnection?)? {
        state.withLock { s -> (String, PostgresConnection?)? in
            guard !s.ended else { return nil }
            guard let connection = s.connection else {
                // Still waiting for a connection from the pool.
                if s.batchStarted != 0, now &- s.batchStarted >= leaseLimit.nanoseconds {
                    return ("no database connection within \(leaseLimit)", nil)
                }
                return nil
            }
            if connection.isClosed {
                if s.closedSince == 0 { s.closedSince = now }
                return now &- s.closedSince >= grace.nanoseconds ? ("the database connection was lost mid-batch", nil) : nil
            }
            if s.batchStarted != 0, now &- s.batchStarted >= batchLimit.nanoseconds {
                return ("a write batch ran past \(batchLimit)", connection)
            }
            return nil
        }
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

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}
