import PostgresNIO

/// What the watchdogs know of one use of a connection (a read of the pool, a stretch of the
/// writer's batches), and when they give up on it: no connection within `lease`, the connection
/// closed under it for `grace` (postgres-nio can leave a query waiting for good then), or work on
/// it running past `run`.
struct ConnectionWatch {
    struct Rules {
        let lease: Duration
        let run: Duration
        let grace: Duration
        /// The reasons given for a lost connection and for work past `run`.
        let lost: String
        let overrun: String
    }

    /// The connection, once the pool gave one.
    private(set) var connection: PostgresConnection?
    /// Monotonic start of the wait for a connection, then of the work on it (0: none running).
    var started: UInt64 = monotonicNanoseconds()
    /// When the connection was first seen closed (0: not yet).
    private var closedSince: UInt64 = 0

    mutating func attach(_ connection: PostgresConnection) {
        self.connection = connection
        started = monotonicNanoseconds()
    }

    /// Why to give up, if it is time, and the connection to close (nil when it is closed already
    /// or none came). `now` may be earlier than a start recorded meanwhile (the watchdog reads
    /// the clock before it looks at each use): that use has just started, not run for ages.
    mutating func verdict(now: UInt64, _ rules: Rules) -> (String, PostgresConnection?)? {
        guard let connection else {
            let waiting = started != 0 && Self.elapsed(since: started, now: now) >= rules.lease.nanoseconds
            return waiting ? ("no database connection within \(rules.lease)", nil) : nil
        }
        if connection.isClosed {
            if closedSince == 0 { closedSince = now }
            return Self.elapsed(since: closedSince, now: now) >= rules.grace.nanoseconds ? (rules.lost, nil) : nil
        }
        let overrun = started != 0 && Self.elapsed(since: started, now: now) >= rules.run.nanoseconds
        return overrun ? (rules.overrun, connection) : nil
    }

    /// Nanoseconds from `start` to `now`; 0 when `start` is later (a wrapping subtraction would
    /// make that nearly 600 years, and the watchdog closed a healthy connection as overrun).
    static func elapsed(since start: UInt64, now: UInt64) -> UInt64 {
        now > start ? now - start : 0
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}
