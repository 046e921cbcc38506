import Logging
import PostgresNIO
import TicketCore
import TicketStore

/// The sweeps: rescuer, expirer, pruner — run by one node at a time (the one holding the
/// sweeper's advisory lock; on the others they do nothing) — the hand-back at start, and the
/// catch-up sweep every node runs.
extension PostgresOrderStore {
    /// Requeues (or fails, with no attempts left) cooking orders whose lease has run out by the
    /// database's clock. Empty on a node that does not hold the sweeper's role.
    public func requeueExpiredLeases(limit: Int) async throws -> [Order] {
        guard await link.holdsSweeperRole() else { return [] }
        let policy = settings.retry
        return try await writer.write { connection, effects in
            var binds = PostgresBindings()
            binds.append(self.injectedNow)
            binds.append(limit)
            let expired = try await connection.orders(PostgresQuery(unsafeSQL: PostgresSQL.expiredLeases, binds: binds),
                                                      logger: self.logger)
            var out: [Order] = []
            for order in expired {
                let holder = order.leaseOwner ?? "a cook"
                out.append(try await self.endAttempt(connection, order, leaseToken: nil, error: "lease held by \(holder) expired",
                                                     retry: true, policy: policy, effects: &effects))
            }
            return out
        }
    }

    /// At open, before anything of this run can claim: the orders this node's earlier runs left
    /// cooking (their lease names this node) go back to the queue at once, or to `failed` when that
    /// was their last attempt; other nodes' leases are left to run out. One transaction on the
    /// node's own session (which holds the node's lock), with one notification for the other nodes.
    static func handBackAbandoned(_ connection: PostgresConnection, options: PostgresOptions,
                                  logger: Logger) async throws -> [Order] {
        let now = options.injectedClock?.now().milliseconds
        return try await connection.withTransaction(logger: logger) { connection in
            let cooking = try await connection.orders(
                "SELECT \(unescaped: PostgresSQL.columns) FROM orders WHERE status = 'cooking' AND lease_node = \(options.nodeID) ORDER BY id FOR UPDATE",
                logger: logger)
            var out: [Order] = []
            for order in cooking {
                let holder = order.leaseOwner ?? "a cook"
                let error = "ticketd node \(options.nodeID) restarted while \(holder) was cooking"
                if order.attempts < order.maxAttempts {
                    out.append(try await applyTransition(connection, order, .handBack, detail: error,
                                                         inputs: Transition.Inputs(lastError: error, availableAt: order.availableAt),
                                                         now: now, nodeID: options.nodeID, logger: logger))
                } else {
                    out.append(try await applyTransition(connection, order, .attemptFailed(attemptsLeft: false),
                                                         detail: error + ", no attempts left",
                                                         inputs: Transition.Inputs(lastError: error),
                                                         now: now, nodeID: options.nodeID, logger: logger))
                }
            }
            if !out.isEmpty {
                let payload = ChangeNotice(sender: "start", workAdded: true, entries: out.map(ChangeNotice.entry)).payload
                try await connection.exec("SELECT pg_notify(\(ChangeNotice.channel), \(payload))", logger: logger)
            }
            return out
        }
    }

    /// Ready orders not collected within `pickupTimeout` seconds (by the database's clock) become
    /// `expired`. Empty on a node that does not hold the sweeper's role.
    public func expireUncollected(pickupTimeout: Double, limit: Int) async throws -> [Order] {
        guard await link.holdsSweeperRole() else { return [] }
        return try await writer.write { connection, effects in
            var binds = PostgresBindings()
            binds.append(self.injectedNow)
            binds.append(Self.milliseconds(pickupTimeout))
            binds.append(limit)
            let ready = try await connection.orders(PostgresQuery(unsafeSQL: PostgresSQL.uncollected, binds: binds),
                                                    logger: self.logger)
            var out: [Order] = []
            for order in ready {
                out.append(try await self.transition(connection, order, .expire,
                                                     detail: "not collected within \(pickupTimeout) s", effects: &effects))
            }
            return out
        }
    }

    /// Deletes up to `limit` orders that reached a final state before `cutoff`, with their events
    /// and idempotency keys (cascade). Zero on a node that does not hold the sweeper's role.
    public func pruneFinished(before cutoff: Timestamp, limit: Int) async throws -> Int {
        guard limit > 0, await link.holdsSweeperRole() else { return 0 }
        return try await writer.write { connection, _ in
            var binds = PostgresBindings()
            binds.append(cutoff.milliseconds)
            binds.append(limit)
            return try await connection.rows(PostgresQuery(unsafeSQL: PostgresSQL.pruneFinished, binds: binds),
                                             logger: self.logger) { _ in () }.count
        }
    }

    /// How long the queue index must have had no change before the sweep compares it with a count.
    static let driftQuiet: UInt64 = 250_000_000

    /// Every node's safety net, each sweep: catches up when a notification was missed or could not
    /// be read; rebuilds the queue index when it disagrees with the table two quiet sweeps in a row;
    /// signals work when a queued order is claimable now that no commit announced (a retry whose
    /// backoff ended). Returns whether it signalled.
    ///
    /// Quiet: no change reached the queue index for `driftQuiet` before the count nor while it
    /// ran. Under load a count always meets commits in flight (another node's whose notification
    /// is still on its way): compared then, it disagreed at nearly every sweep, and each
    /// disagreement rebuilt the index from every queued order (measured: a rebuild about every
    /// 1.2 s during intake on PostgreSQL, reading up to 90,000 rows each time).
    public func sweepOutsideWrites() async throws -> Bool {
        if needsCatchUp.load(ordering: .relaxed) || !link.isConnected {
            await catchUp()
        } else if let quiet = queue.quietNanoseconds, quiet < Self.driftQuiet {
            // Busy: nothing to compare with; the next quiet sweep does.
        } else {
            let mark = queue.changeMark
            let counted = try await pool.scalar(PostgresQuery(unsafeSQL: PostgresSQL.queuedCount), as: Int64.self)
            if let counted, queue.changeMark == mark {
                let drifted = queueDrift.withLock { d -> Bool in
                    d = Int(counted) == queue.count ? 0 : d + 1
                    return d >= 2
                }
                if drifted {
                    logger.notice("the queue index disagreed with the table; rebuilding it")
                    queueDrift.withLock { $0 = 0 }
                    await catchUp()
                }
            }
        }
        let claimable = try await pool.scalar(PostgresQuery(unsafeSQL: PostgresSQL.anyClaimable, binds: Self.bindsOf(injectedNow)),
                                              as: Bool.self) ?? false
        guard claimable else { return false }
        changes.signalWork()
        return true
    }
}
