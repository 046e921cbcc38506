import GRDB
import TicketCore
import TicketStore

/// The sweeps: rescuer, expirer, hand-back at start, pruner. Each works in small batches so
/// that it never holds the writer long.
extension SQLiteOrderStore {
    /// Requeues (or fails, with no attempts left) cooking orders whose lease has run out.
    /// Returns the orders changed.
    public func requeueExpiredLeases(limit: Int) async throws -> [Order] {
        let now = self.now()
        let policy = settings.retry
        return try await writer.write { db, effects in
            let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.expiredLeases), arguments: [now.rfc3339, limit])
            return try rows.map(OrderRow.order).map { order in
                let holder = order.leaseOwner ?? "a cook"
                return try self.endAttempt(db, order, leaseToken: nil, error: "lease held by \(holder) expired",
                                           retry: true, policy: policy, now: now, effects: &effects)
            }
        }
    }

    /// At start, before the writer runs and before any cook may claim: orders left cooking by an
    /// earlier run go back to the queue at once (or to `failed` when that was their last
    /// attempt), in one transaction on the writer's connection. The instance lock guarantees no
    /// other process serves this database, and nothing of this run has claimed yet, so every
    /// lease found here is an earlier run's. Returns the orders changed.
    static func handBackAbandoned(_ db: Database, now: Timestamp) throws -> [Order] {
        let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.allCooking), arguments: [Int.max])
        return try rows.map(OrderRow.order).map { order in
            let holder = order.leaseOwner ?? "a cook"
            let error = "ticketd restarted while \(holder) was cooking"
            if order.attempts < order.maxAttempts {
                return try applyTransition(db, order, .handBack, now: now, detail: error,
                                           inputs: Transition.Inputs(lastError: error, availableAt: now))
            }
            return try applyTransition(db, order, .attemptFailed(attemptsLeft: false), now: now,
                                       detail: error + ", no attempts left", inputs: Transition.Inputs(lastError: error))
        }
    }

    /// Ready orders not collected within `pickupTimeout` seconds become `expired`.
    public func expireUncollected(pickupTimeout: Double, limit: Int) async throws -> [Order] {
        let now = self.now()
        let cutoff = now.adding(seconds: -pickupTimeout)
        return try await writer.write { db, effects in
            let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.uncollected), arguments: [cutoff.rfc3339, limit])
            return try rows.map(OrderRow.order).map { order in
                try self.transition(db, order, .expire, now: now, detail: "not collected within \(pickupTimeout) s",
                                    effects: &effects)
            }
        }
    }

    /// Deletes up to `limit` orders that reached a final state before `cutoff`, with their
    /// events and idempotency keys. Returns how many were deleted.
    public func pruneFinished(before cutoff: Timestamp, limit: Int) async throws -> Int {
        try await writer.write { db, _ in
            try db.cachedStatement(sql: SQL.pruneFinished).execute(arguments: [cutoff.rfc3339, limit])
            return db.changesCount
        }
    }

    /// Another process's commit (an operator's `sqlite3`) is noticed by the writer before each
    /// batch (`PRAGMA data_version`), which rebuilds the queue index and empties the ticket
    /// cache; this runs a batch for that, then signals work if a queued order is claimable now
    /// (an outside insert, a retry whose backoff ended: no commit of ours announced those).
    public func sweepOutsideWrites() async throws -> Bool {
        try await writer.write { _, _ in () }
        guard try await hasClaimableWork(now: now()) else { return false }
        changes.signalWork()
        return true
    }
}
