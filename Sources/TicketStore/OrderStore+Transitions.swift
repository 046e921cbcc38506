import GRDB
import TicketCore

/// The guarded transition every status change goes through.
extension OrderStore {
    /// Extra columns a transition sets besides status, version and its stamps.
    struct TransitionExtras {
        var lastError: String?
        var availableAt: Timestamp?
    }

    /// Applies `event` to `order` (as read inside this savepoint): checks the lifecycle, runs a
    /// guarded UPDATE (`WHERE id AND status AND version [AND lease_token]`), records the event and adds the new
    /// state to `effects`. Throws `invalidTransition`, or `leaseLost` when the guard matched no row.
    /// With `leaseValidAt`, the guard also requires the lease to run until then (a lease that has
    /// run out is lost even before the rescuer requeues its order).
    func transition(_ db: Database, _ order: Order, _ event: OrderEvent, leaseToken: String? = nil,
                    leaseValidAt: Timestamp? = nil,
                    now: Timestamp, detail: String?, extras: TransitionExtras = TransitionExtras(),
                    effects: inout WriteEffects) throws -> Order {
        let updated = try Self.applyTransition(db, order, event, leaseToken: leaseToken, leaseValidAt: leaseValidAt,
                                               now: now, detail: detail, extras: extras)
        effects.changes.append(updated)
        if updated.status == .queued {
            effects.workAdded = true
            // Placements later in this batch count it (the index follows commits only).
            let batch = writer.currentBatch
            let rush = updated.priority == .rush
            writerCache.withLock { c in
                if c.batch != batch { c = WriterCache(batch: batch) }
                if rush { c.placedRush += 1 } else { c.placedNormal += 1 }
            }
        }
        return updated
    }

    /// The guarded UPDATE and the event of a transition, on `db` (the writer's connection),
    /// without publishing anything: `transition` adds the effects; start-up recovery, which runs
    /// before the writer, has none to publish yet.
    static func applyTransition(_ db: Database, _ order: Order, _ event: OrderEvent, leaseToken: String? = nil,
                                leaseValidAt: Timestamp? = nil, now: Timestamp, detail: String?,
                                extras: TransitionExtras = TransitionExtras()) throws -> Order {
        let transition: Transition
        switch Lifecycle.apply(event, to: order.status) {
        case .success(let t): transition = t
        case .failure(let invalid): throw StoreError.invalidTransition(invalid)
        }
        let stamp = now.rfc3339
        let change = Self.change(transition, of: order, now: now, extras: extras)
        var args = change.arguments
        var sql = "UPDATE orders SET " + change.sets.joined(separator: ", ") + " WHERE id = ? AND status = ? AND version = ?"
        args.append(order.id)
        args.append(order.status.rawValue)
        args.append(order.version)
        if let leaseToken { sql += " AND lease_token = ?"; args.append(leaseToken) }
        if let leaseValidAt { sql += " AND lease_expires_at >= ?"; args.append(leaseValidAt.rfc3339) }
        try db.cachedStatement(sql: sql).execute(arguments: StatementArguments(args))
        guard db.changesCount == 1 else {
            if leaseToken != nil { throw try Self.leaseError(db, orderID: order.id) }
            throw StoreError.invalidTransition(InvalidTransition(from: order.status, event: event))
        }
        try db.cachedStatement(sql: SQL.insertEvent).execute(arguments: [
            order.id, transition.from.rawValue, transition.to.rawValue, stamp, detail,
        ])
        return change.updated
    }

    /// What a transition writes: the SET clauses with their arguments, and the row as it will
    /// read afterwards. The new row is worked out here as the UPDATE writes it (a later SET of a
    /// column wins, as in SQLite), so no RETURNING is needed: SQLite runs RETURNING as a trigger,
    /// which makes the update two-pass and journals every page it touches. Callers guard the
    /// UPDATE so that the row it changes is the row this was worked out from (its version, or a
    /// lease, which nothing else changes while it holds).
    struct Change {
        var sets: [String]
        var arguments: [(any DatabaseValueConvertible)?]
        var updated: Order
    }

    static func change(_ transition: Transition, of order: Order, now: Timestamp, extras: TransitionExtras) -> Change {
        let stamp = now.rfc3339
        var updated = order
        updated.status = transition.to
        updated.version = order.version + transition.versionBump
        var sets = ["status = ?", "version = version + 1"]
        var args: [(any DatabaseValueConvertible)?] = [transition.to.rawValue]
        if transition.stamps.contains(.readyAt) {
            sets.append("ready_at = ?"); args.append(stamp); updated.readyAt = now
        }
        if transition.stamps.contains(.finishedAt) {
            sets.append("finished_at = ?"); args.append(stamp); updated.finishedAt = now
        }
        if transition.stamps.contains(.clearProgress) {
            sets.append("cooking_at = NULL, ready_at = NULL, finished_at = NULL, attempts = 0, last_error = NULL")
            updated.cookingAt = nil; updated.readyAt = nil; updated.finishedAt = nil
            updated.attempts = 0; updated.lastError = nil
        }
        if transition.from == .cooking {
            sets.append("lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL")
            updated.leaseOwner = nil; updated.leaseExpiresAt = nil
            if transition.to == .queued { sets.append("cooking_at = NULL"); updated.cookingAt = nil }
        }
        if let lastError = extras.lastError {
            sets.append("last_error = ?"); args.append(lastError); updated.lastError = lastError
        }
        if let availableAt = extras.availableAt {
            sets.append("available_at = ?"); args.append(availableAt.rfc3339); updated.availableAt = availableAt
        }
        return Change(sets: sets, arguments: args, updated: updated)
    }

    /// Runs `event` on the order found by `find`, in the next batch.
    func transitionOrder(find: @escaping @Sendable (Database) throws -> Order?, event: OrderEvent,
                         detail: String?, extras: TransitionExtras = TransitionExtras()) async throws -> Order {
        let now = self.now()
        return try await writer.write { db, effects in
            guard let order = try find(db) else { throw StoreError.notFound }
            return try self.transition(db, order, event, now: now, detail: detail, extras: extras, effects: &effects)
        }
    }

    // MARK: Customer

    /// Cancels the order of `ticket` while it is still queued (`invalidTransition` once cooking).
    public func cancel(ticket: String) async throws -> Order {
        try await transitionOrder(find: { try Self.fetchOrder($0, ticket: ticket) }, event: .cancel,
                                  detail: "cancelled by the customer")
    }

    /// Collects the ready order of `ticket` (`invalidTransition` if it is not ready).
    public func pickup(ticket: String) async throws -> Order {
        try await transitionOrder(find: { try Self.fetchOrder($0, ticket: ticket) }, event: .pickup,
                                  detail: "picked up")
    }

    // MARK: Operator

    /// Cancels any order not yet final; a cooking order's lease is revoked.
    public func operatorCancel(id: Int64) async throws -> Order {
        try await transitionOrder(find: { try Self.fetchOrder($0, id: id) }, event: .operatorCancel,
                                  detail: "cancelled by an operator")
    }

    /// Puts a failed order back in the queue with fresh attempts.
    public func requeue(id: Int64) async throws -> Order {
        let now = self.now()
        return try await transitionOrder(find: { try Self.fetchOrder($0, id: id) }, event: .operatorRequeue,
                                         detail: "requeued by an operator",
                                         extras: TransitionExtras(availableAt: now))
    }
}
