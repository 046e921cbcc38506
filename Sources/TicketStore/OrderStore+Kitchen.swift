import GRDB
import TicketCore

/// A claimed order and the lease that every later step of the attempt must name.
public struct Claim: Sendable, Hashable {
    public var order: Order
    public var lease: String
    public var leaseExpiresAt: Timestamp
}

/// Claims and the steps of a cooking attempt; in-process cooks and the kitchen API share them.
extension OrderStore {
    /// Claims the next claimable order (rush first, then oldest) for `cook`, counting one attempt.
    /// Returns nil when nothing is claimable now.
    public func claimNext(cook: String, leaseSeconds: Double) async throws -> Claim? {
        try await claimNext(cook: cook, leaseSeconds: leaseSeconds, limit: 1).first
    }

    /// Claims up to `limit` claimable orders in claim order for `cook`, in one write: each gets
    /// its own lease and counts one attempt. Empty when nothing is claimable now.
    public func claimNext(cook: String, leaseSeconds: Double, limit: Int) async throws -> [Claim] {
        let now = self.now()
        let leases = (0..<max(1, limit)).map { _ in TicketID.generate() }
        let expires = now.adding(seconds: leaseSeconds)
        return try await writer.write { db, effects in
            let nowText = now.rfc3339, expiresText = expires.rfc3339
            let queued = try Row.fetchAll(db.cachedStatement(sql: SQL.claimable), arguments: [nowText, leases.count])
                .map(OrderRow.order)
            let claim = try db.cachedStatement(sql: SQL.claim)
            let event = try db.cachedStatement(sql: SQL.insertEvent)
            var claims: [Claim] = []
            claims.reserveCapacity(queued.count)
            for (read, lease) in zip(queued, leases) {
                try claim.execute(arguments: [read.id, lease, cook, expiresText, nowText])
                // One writer and one transaction: the row read above is the row updated.
                guard db.changesCount == 1 else { throw StoreError.invalidTransition(InvalidTransition(from: read.status, event: .claim)) }
                var order = read
                order.status = .cooking
                order.leaseOwner = cook
                order.leaseExpiresAt = expires
                order.attempts += 1
                order.version += 1
                order.cookingAt = now
                try event.execute(arguments: [
                    order.id, "queued", "cooking", nowText,
                    "claimed by \(cook) (attempt \(order.attempts) of \(order.maxAttempts))",
                ])
                effects.changes.append(order)
                claims.append(Claim(order: order, lease: lease, leaseExpiresAt: expires))
            }
            return claims
        }
    }

    /// Extends the lease to `leaseSeconds` from now. Throws `leaseLost` if it no longer holds.
    public func renewLease(orderID: Int64, lease: String, leaseSeconds: Double) async throws -> Timestamp {
        let now = self.now()
        let expires = now.adding(seconds: leaseSeconds)
        return try await writer.write { db, effects in
            try db.cachedStatement(sql: SQL.renewLease).execute(arguments: [orderID, lease, expires.rfc3339, now.rfc3339])
            guard db.changesCount == 1, let renewed = try Self.fetchOrder(db, id: orderID) else {
                throw try Self.leaseError(db, orderID: orderID)
            }
            // Not a new version (waiters skip it), but caches of the row follow it.
            effects.changes.append(renewed)
            return expires
        }
    }

    /// Marks the order ready. Throws `leaseLost` if the lease no longer holds (a late `ready`
    /// from a lost lease never overwrites a newer attempt).
    public func markReady(orderID: Int64, lease: String) async throws -> Order {
        let now = self.now()
        return try await writer.write { db, effects in
            let order = try Self.orderHeld(db, orderID: orderID, lease: lease, now: now)
            let cook = order.leaseOwner ?? "a cook"
            return try self.transition(db, order, .done, leaseToken: lease, now: now,
                                       detail: "cooked by \(cook)", effects: &effects)
        }
    }

    /// Marks a claim of this process's cooks ready: the guarded UPDATE alone (id, cooking, this
    /// lease, not run out) decides, with no read before it; the cook's name comes from the claim.
    /// Throws `leaseLost` (or `notFound`) like `markReady(orderID:lease:)`.
    public func markReady(_ claim: Claim) async throws -> Order {
        try await markReady([claim])[0].get()
    }

    /// Marks several claims ready in one write; one that lost its lease fails alone (its guarded
    /// UPDATE matched no row and changed nothing, so it needs no savepoint of its own). For a cook
    /// whose orders needed no cooking time (one write per order cost more than the rest of the
    /// order's way through the kitchen).
    public func markReady(_ claims: [Claim]) async throws -> [Result<Order, StoreError>] {
        let now = self.now()
        return try await writer.write { db, effects in
            var results: [Result<Order, StoreError>] = []
            results.reserveCapacity(claims.count)
            for claim in claims {
                var held = claim.order
                held.status = .cooking
                let cook = claim.order.leaseOwner ?? "a cook"
                do {
                    let ready = try self.transition(db, held, .done, leaseToken: claim.lease, leaseValidAt: now, now: now,
                                                    detail: "cooked by \(cook)", effects: &effects)
                    results.append(.success(ready))
                } catch let error as StoreError {
                    results.append(.failure(error))
                }
            }
            return results
        }
    }

    /// Reports a failed attempt. With `retry` and attempts left the order goes back to the queue
    /// after backoff; otherwise it is `failed` with `error` kept as its last error.
    public func failAttempt(orderID: Int64, lease: String, error: String, retry: Bool) async throws -> Order {
        let now = self.now()
        let policy = settings.retry
        return try await writer.write { db, effects in
            let order = try Self.orderHeld(db, orderID: orderID, lease: lease, now: now)
            return try self.endAttempt(db, order, leaseToken: lease, error: error, retry: retry, policy: policy,
                                       now: now, effects: &effects)
        }
    }

    /// Gives the order back to the queue at once without judging the attempt (graceful shutdown).
    /// The attempt stays counted.
    public func handBack(orderID: Int64, lease: String, reason: String) async throws -> Order {
        let now = self.now()
        return try await writer.write { db, effects in
            let order = try Self.orderHeld(db, orderID: orderID, lease: lease, now: now)
            return try self.transition(db, order, .attemptFailed(attemptsLeft: true), leaseToken: lease, now: now,
                                       detail: reason, extras: TransitionExtras(availableAt: now), effects: &effects)
        }
    }

    /// The end of an attempt that did not make the order ready.
    func endAttempt(_ db: Database, _ order: Order, leaseToken: String?, error: String, retry: Bool,
                    policy: RetryPolicy, now: Timestamp, effects: inout WriteEffects) throws -> Order {
        let left = retry && order.attempts < order.maxAttempts
        let error = String(error.prefix(2000))
        if left {
            let delay = policy.backoff(after: order.attempts)
            return try transition(db, order, .attemptFailed(attemptsLeft: true), leaseToken: leaseToken, now: now,
                                  detail: "attempt \(order.attempts) failed, retry in \(Int((delay * 1000).rounded())) ms: \(error)",
                                  extras: TransitionExtras(lastError: error, availableAt: now.adding(seconds: delay)),
                                  effects: &effects)
        }
        return try transition(db, order, .attemptFailed(attemptsLeft: false), leaseToken: leaseToken, now: now,
                              detail: "attempt \(order.attempts) failed, no retry: \(error)",
                              extras: TransitionExtras(lastError: error), effects: &effects)
    }

    /// The order if `lease` still holds it at `now`; else `notFound` or `leaseLost` (a lease that
    /// has run out is lost even before the rescuer has requeued its order).
    static func orderHeld(_ db: Database, orderID: Int64, lease: String, now: Timestamp) throws -> Order {
        let holder = try String.fetchOne(db.cachedStatement(sql: SQL.leaseHolder), arguments: [orderID])
        guard holder == lease, let order = try fetchOrder(db, id: orderID),
              let expires = order.leaseExpiresAt, expires >= now else {
            throw try leaseError(db, orderID: orderID)
        }
        return order
    }

    static func leaseError(_ db: Database, orderID: Int64) throws -> StoreError {
        try fetchOrder(db, id: orderID) == nil ? .notFound : .leaseLost
    }
}
