import GRDB
import TicketCore
import TicketStore

/// The guarded transition every status change goes through, and the SQL of a transition's
/// effects. The lifecycle (`TicketCore.Lifecycle`) decides what a transition does; this file
/// only says how SQLite writes it.
extension SQLiteOrderStore {
    /// Applies `event` to `order` (as read inside this savepoint): checks the lifecycle, runs a
    /// guarded UPDATE (`WHERE id AND status AND version [AND lease_token]`), records the event and adds the new
    /// state to `effects`. Throws `invalidTransition`, or `leaseLost` when the guard matched no row.
    /// With `leaseValidAt`, the guard also requires the lease to run until then (a lease that has
    /// run out is lost even before the rescuer requeues its order).
    func transition(_ db: Database, _ order: Order, _ event: OrderEvent, leaseToken: String? = nil,
                    leaseValidAt: Timestamp? = nil,
                    now: Timestamp, detail: String?, inputs: Transition.Inputs = Transition.Inputs(),
                    effects: inout WriteEffects) throws -> Order {
        let updated = try Self.applyTransition(db, order, event, leaseToken: leaseToken, leaseValidAt: leaseValidAt,
                                               now: now, detail: detail, inputs: inputs)
        effects.changes.append(updated)
        let batch = writer.currentBatch
        if order.status.isFinal && !updated.status.isFinal {
            // Its number is live again (a requeue): placements later in this batch must see it.
            writerCache.forgetHighestLive(batch: batch)
        }
        if updated.status == .queued {
            effects.workAdded = true
            // Placements later in this batch count it (the index follows commits only).
            let rush = updated.priority == .rush
            writerCache.withBatch(batch) { c in
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
                                inputs: Transition.Inputs = Transition.Inputs()) throws -> Order {
        let transition: Transition
        switch Lifecycle.apply(event, to: order.status) {
        case .success(let t): transition = t
        case .failure(let invalid): throw StoreError.invalidTransition(invalid)
        }
        let update = Self.update(transition, now: now, inputs: inputs)
        var args = update.arguments
        var sql = "UPDATE orders SET " + update.sets + " WHERE id = ? AND status = ? AND version = ?"
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
            order.id, transition.from.rawValue, transition.to.rawValue, now.rfc3339, detail,
        ])
        // The row as the UPDATE wrote it, worked out by the lifecycle: no RETURNING (SQLite runs
        // it as a trigger, which makes the update two-pass and journals every page it touches).
        // The guard makes the changed row the row this was worked out from.
        return transition.applied(to: order, at: now, inputs: inputs)
    }

    /// The SET clause of a transition (status and version included) with its arguments.
    struct Update {
        var sets: String
        var arguments: [(any DatabaseValueConvertible)?]
    }

    /// How SQLite writes `transition` at `now`. `leaseToken` is the SQL of the lease token a
    /// claim sets (`?` for the token argument; a claim of several orders appends each id), and
    /// `leaseOwner` that of its owner with the argument it binds (a claim for several cooks).
    /// Every effect of the lifecycle has its case here: a new one does not compile until it is
    /// written out. When a column is set twice, SQLite keeps the rightmost assignment, as
    /// `Transition.applied` does (inputs after effects).
    static func update(_ transition: Transition, now: Timestamp, inputs: Transition.Inputs,
                       leaseToken: String = "?", leaseOwner: (sql: String, argument: String)? = nil) -> Update {
        let stamp = now.rfc3339
        var sets = ["status = ?", "version = version + \(transition.versionBump)"]
        var args: [(any DatabaseValueConvertible)?] = [transition.to.rawValue]
        for effect in transition.effects {
            switch effect {
            case .takeLease:
                sets.append("lease_token = \(leaseToken), lease_owner = \(leaseOwner?.sql ?? "?"), lease_expires_at = ?")
                args += [inputs.lease?.token, leaseOwner?.argument ?? inputs.lease?.owner, inputs.lease?.expiresAt.rfc3339]
            case .countAttempt: sets.append("attempts = attempts + 1")
            case .stampCookingAt: sets.append("cooking_at = ?"); args.append(stamp)
            case .releaseLease: sets.append("lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL")
            case .clearCookingAt: sets.append("cooking_at = NULL")
            case .stampReadyAt: sets.append("ready_at = ?"); args.append(stamp)
            case .stampFinishedAt: sets.append("finished_at = ?"); args.append(stamp)
            case .resetProgress:
                sets.append("attempts = 0, cooking_at = NULL, ready_at = NULL, finished_at = NULL, last_error = NULL")
            }
        }
        if let lastError = inputs.lastError { sets.append("last_error = ?"); args.append(lastError) }
        if let availableAt = inputs.availableAt { sets.append("available_at = ?"); args.append(availableAt.rfc3339) }
        return Update(sets: sets.joined(separator: ", "), arguments: args)
    }

    /// Runs `event` on the order found by `find`, in the next batch.
    func transitionOrder(find: @escaping @Sendable (Database) throws -> Order?, event: OrderEvent,
                         detail: String?, inputs: Transition.Inputs = Transition.Inputs()) async throws -> Order {
        let now = self.now()
        return try await writer.write { db, effects in
            guard let order = try find(db) else { throw StoreError.notFound }
            return try self.transition(db, order, event, now: now, detail: detail, inputs: inputs, effects: &effects)
        }
    }

    // MARK: Customer

    public func cancel(ticket: String) async throws -> Order {
        try await transitionOrder(find: { try Self.fetchOrder($0, ticket: ticket) }, event: .cancel,
                                  detail: "cancelled by the customer")
    }

    public func pickup(ticket: String) async throws -> Order {
        try await transitionOrder(find: { try Self.fetchOrder($0, ticket: ticket) }, event: .pickup,
                                  detail: "picked up")
    }

    // MARK: Operator

    public func operatorCancel(id: Int64) async throws -> Order {
        try await transitionOrder(find: { try Self.fetchOrder($0, id: id) }, event: .operatorCancel,
                                  detail: "cancelled by an operator")
    }

    public func requeue(id: Int64) async throws -> Order {
        let now = self.now()
        return try await transitionOrder(find: { try Self.fetchOrder($0, id: id) }, event: .operatorRequeue,
                                         detail: "requeued by an operator", inputs: Transition.Inputs(availableAt: now))
    }
}
