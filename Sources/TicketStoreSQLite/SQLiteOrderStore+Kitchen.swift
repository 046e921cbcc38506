import GRDB
import TicketCore
import TicketStore

/// An idle cook's claim, parked with the writer (`parkClaim`).
struct ParkedClaim: Sendable {
    let write: ParkedWrite<[Claim]>
}

/// Claims and the steps of a cooking attempt; in-process cooks and the kitchen API share them.
extension SQLiteOrderStore {
    /// Claims up to `cooks.count` claimable orders in claim order, the i-th for `cooks[i]`, in
    /// one write: each gets its own lease (the claim's random token, a dot and the order id) and
    /// counts one attempt.
    /// When none is claimable, an idle claimer parks its claim with the writer: the next batch
    /// that adds work (a placement, a retry) runs it after its own requests, in the same
    /// transaction, so an order placed while the cook waits is claimed by the commit that places
    /// it — one commit and one wake-up from order to cook. It wakes on the work signal that batch
    /// publishes, when the earliest retry's backoff ends, at `deadline`, or when `wanted` turns
    /// false (checked by the batch before it claims, and after each wake-up).
    public func claim(cooks: [String], leaseSeconds: Double, until deadline: ContinuousClock.Instant,
                      while wanted: @escaping @Sendable () -> Bool) async throws -> [Claim] {
        while true {
            let epoch = changes.workEpoch
            let claims = try await claimNow(cooks: cooks, leaseSeconds: leaseSeconds)
            if !claims.isEmpty { return claims }
            if ContinuousClock.now >= deadline || !wanted() || Task.isCancelled { return [] }
            var until = deadline
            if let next = try await nextAvailableAt() {
                let ms = next.milliseconds - now().milliseconds
                until = min(deadline, ContinuousClock.now + .milliseconds(max(ms, 1)))
            }
            let parked = parkClaim(cooks: cooks, leaseSeconds: leaseSeconds, wanted: wanted)
            await changes.waitForWork(after: epoch, until: until)
            let handed = await unpark(parked)
            if !handed.isEmpty { return handed }
            if ContinuousClock.now >= deadline || !wanted() || Task.isCancelled { return [] }
        }
    }

    public func claim(orderID: Int64, cook: String, leaseSeconds: Double) async throws -> Claim {
        let now = self.now()
        let token = TicketID.generate()
        let lease = Transition.Lease(token: "\(token).\(orderID)", owner: cook, expiresAt: now.adding(seconds: leaseSeconds))
        return try await writer.write { db, effects in
            guard let order = try Self.fetchOrder(db, id: orderID) else { throw StoreError.notFound }
            let claimed = try self.transition(db, order, .claim, now: now,
                                              detail: "claimed by \(cook) (attempt \(order.attempts + 1) of \(order.maxAttempts))",
                                              inputs: Transition.Inputs(lease: lease), effects: &effects)
            return Claim(order: claimed, lease: lease.token, leaseExpiresAt: lease.expiresAt)
        }
    }

    /// Claims what is claimable now, in one write; empty when nothing is.
    func claimNow(cooks: [String], leaseSeconds: Double) async throws -> [Claim] {
        try await writer.write(claimBody(cooks: cooks, leaseSeconds: leaseSeconds))
    }

    /// Parks a claim with the writer (see `claim`). Take the result with `unpark` once woken.
    func parkClaim(cooks: [String], leaseSeconds: Double,
                   wanted: @escaping @Sendable () -> Bool) -> ParkedClaim {
        let claim = claimBody(cooks: cooks, leaseSeconds: leaseSeconds)
        return ParkedClaim(write: writer.park { db, effects in
            wanted() ? try claim(db, &effects) : []
        })
    }

    /// The claims a batch made for `parked`, or empty if none took it (it is then withdrawn) or
    /// nothing was claimable by then.
    func unpark(_ parked: ParkedClaim) async -> [Claim] {
        await writer.unpark(parked.write) ?? []
    }

    /// The claim as a write: the time, the token and the expiry are taken when the writer runs it.
    /// The UPDATE carries out the lifecycle's claim (`Lifecycle.claim`) for every id at once; the
    /// lease owner is bound once when one cook takes them all, else each order's is looked up in a
    /// JSON object keyed by id. The events name each order's cook from its row.
    func claimBody(cooks: [String], leaseSeconds: Double) -> @Sendable (Database, inout WriteEffects) throws -> [Claim] {
        { db, effects in
            let now = self.now()
            let token = TicketID.generate()
            let expires = now.adding(seconds: leaseSeconds)
            let queued = try Row.fetchAll(db.cachedStatement(sql: SQL.claimable), arguments: [now.rfc3339, max(1, cooks.count)])
                .map(OrderRow.order)
            guard !queued.isEmpty else { return [] }
            let owners = Array((cooks.isEmpty ? ["a cook"] : cooks).prefix(queued.count))
            let ids = Self.jsonArray(queued.map(\.id))
            let claim = Lifecycle.claim
            let oneCook = owners.allSatisfy { $0 == owners[0] }
            let update = Self.update(claim, now: now, inputs: Transition.Inputs(lease: Transition.Lease(token: token, owner: owners[0], expiresAt: expires)),
                                     leaseToken: "? || '.' || id",
                                     leaseOwner: oneCook ? nil : ("json_extract(?, '$.\"' || id || '\"')", Self.jsonObject(ids: queued.map(\.id), owners)))
            try db.cachedStatement(sql: SQL.claim(sets: update.sets))
                .execute(arguments: StatementArguments(update.arguments + [ids]))
            // One writer and one transaction: the rows read above are the rows updated.
            guard db.changesCount == queued.count else {
                throw StoreError.invalidTransition(InvalidTransition(from: .queued, event: .claim))
            }
            try db.cachedStatement(sql: SQL.claimEvents).execute(arguments: [ids, now.rfc3339])
            return zip(queued, owners).map { read, owner in
                let lease = Transition.Lease(token: token, owner: owner, expiresAt: expires)
                let order = claim.applied(to: read, at: now, inputs: Transition.Inputs(lease: lease))
                effects.changes.append(order)
                return Claim(order: order, lease: "\(token).\(order.id)", leaseExpiresAt: expires)
            }
        }
    }

    /// `{"12":"cook-1","13":"cook-2"}`: each order's cook, for `json_extract`.
    static func jsonObject(ids: [Int64], _ owners: [String]) -> String {
        var w = JSONWriter(capacity: 24 * ids.count + 2)
        w.beginObject()
        for (id, owner) in zip(ids, owners) {
            w.key(String(id))
            w.value(owner)
        }
        w.endObject()
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// `[1,2,3]`: ids for `json_each`.
    static func jsonArray(_ ids: [Int64]) -> String {
        "[" + ids.map(String.init).joined(separator: ",") + "]"
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

    public func markReady(orderID: Int64, lease: String) async throws -> Order {
        let now = self.now()
        return try await writer.write { db, effects in
            let order = try Self.orderHeld(db, orderID: orderID, lease: lease, now: now)
            let cook = order.leaseOwner ?? "a cook"
            return try self.transition(db, order, .done, leaseToken: lease, now: now,
                                       detail: "cooked by \(cook)", effects: &effects)
        }
    }

    /// Marks claims of this process's cooks ready in one write: guarded UPDATEs alone (id,
    /// cooking, this lease, not run out) decide, with no read before them; the cook's name comes
    /// from the claim. One that lost its lease fails alone. Claims of one claim by one cook (the usual case) take one UPDATE and one INSERT for all; if any of
    /// them lost its lease, that is undone and each claim goes its own way (a guarded UPDATE
    /// that matches no row changes nothing, so those need no savepoint of their own). For a
    /// cook whose orders needed no cooking time.
    public func markReady(_ claims: [Claim]) async throws -> [Result<Order, StoreError>] {
        let now = self.now()
        return try await writer.write { db, effects in
            if let ready = try Self.markReadyTogether(db, claims, now: now) {
                effects.changes.append(contentsOf: ready)
                return ready.map { .success($0) }
            }
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

    /// The orders of `claims` made ready by one UPDATE and one INSERT, when they are several
    /// orders of one claim (leases `token.id`, for one cook or several) and every lease still
    /// holds; nil (and nothing changed) otherwise.
    static func markReadyTogether(_ db: Database, _ claims: [Claim], now: Timestamp) throws -> [Order]? {
        guard claims.count > 1, let first = claims.first, let cook = first.order.leaseOwner,
              let dot = first.lease.lastIndex(of: ".") else { return nil }
        let token = first.lease[..<dot]
        guard claims.allSatisfy({ $0.lease == "\(token).\($0.order.id)" && $0.order.leaseOwner != nil }),
              case .success(let transition) = Lifecycle.apply(.done, to: .cooking) else { return nil }
        let oneCook = claims.allSatisfy { $0.order.leaseOwner == cook }
        let ids = jsonArray(claims.map(\.order.id))
        // The SET clause and its arguments are the same for every claim of this transition.
        let update = Self.update(transition, now: now, inputs: Transition.Inputs())
        let sql = SQL.markReadyMany(sets: update.sets)
        try db.cachedStatement(sql: "SAVEPOINT together").execute()
        if !oneCook {
            // Each event names its order's cook, read before the UPDATE releases the lease (and
            // undone with it if any lease no longer held).
            try db.cachedStatement(sql: SQL.readyEventsByOwner).execute(arguments: [ids, now.rfc3339])
        }
        try db.cachedStatement(sql: sql).execute(arguments: StatementArguments(update.arguments + [ids, String(token), now.rfc3339]))
        guard db.changesCount == claims.count else {
            try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT together").execute()
            try db.cachedStatement(sql: "RELEASE SAVEPOINT together").execute()
            return nil
        }
        if oneCook {
            try db.cachedStatement(sql: SQL.eventsOfMany).execute(arguments: [
                ids, transition.from.rawValue, transition.to.rawValue, now.rfc3339, "cooked by \(cook)",
            ])
        }
        try db.cachedStatement(sql: "RELEASE SAVEPOINT together").execute()
        return claims.map { claim in
            var held = claim.order
            held.status = .cooking
            return transition.applied(to: held, at: now)
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
                                       detail: reason, inputs: Transition.Inputs(availableAt: now), effects: &effects)
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
                                  inputs: Transition.Inputs(lastError: error, availableAt: now.adding(seconds: delay)),
                                  effects: &effects)
        }
        return try transition(db, order, .attemptFailed(attemptsLeft: false), leaseToken: leaseToken, now: now,
                              detail: "attempt \(order.attempts) failed, no retry: \(error)",
                              inputs: Transition.Inputs(lastError: error), effects: &effects)
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
