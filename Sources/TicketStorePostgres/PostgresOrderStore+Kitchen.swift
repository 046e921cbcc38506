import PostgresNIO
import TicketCore
import TicketStore

/// Claims and the steps of a cooking attempt; in-process cooks and the kitchen API share them.
extension PostgresOrderStore {
    /// Claims up to `cooks.count` claimable orders in claim order, the i-th for `cooks[i]`, in one
    /// statement: a CTE
    /// picks queued orders `FOR UPDATE SKIP LOCKED LIMIT n` (the fence: no other node's claim can
    /// take them, and none waits for this one), and the UPDATE gives each its own lease and counts
    /// one attempt. When none is claimable, an idle claimer parks its claim with this node's
    /// writer (a batch of this node that queues work runs it in the same transaction) and waits
    /// for work: this node's commits, another node's notification, the earliest retry's backoff,
    /// `deadline`, or `wanted` turning false.
    public func claim(cooks: [String], leaseSeconds: Double, until deadline: ContinuousClock.Instant,
                      while wanted: @escaping @Sendable () -> Bool) async throws -> [Claim] {
        while true {
            let epoch = changes.workEpoch
            let claims = try await writer.write(claimBody(cooks: cooks, leaseSeconds: leaseSeconds))
            if !claims.isEmpty { return claims }
            if ContinuousClock.now >= deadline || !wanted() || Task.isCancelled { return [] }
            var until = deadline
            if let ms = try await untilNextAvailable() {
                until = min(deadline, ContinuousClock.now + .milliseconds(max(ms, 1)))
            }
            let body = claimBody(cooks: cooks, leaseSeconds: leaseSeconds)
            let parked = writer.park { connection, effects in
                wanted() ? try await body(connection, &effects) : []
            }
            await changes.waitForWork(after: epoch, until: until)
            if let handed = await writer.unpark(parked), !handed.isEmpty { return handed }
            if ContinuousClock.now >= deadline || !wanted() || Task.isCancelled { return [] }
        }
    }

    /// Milliseconds until the earliest queued order becomes claimable, by the database's clock.
    func untilNextAvailable() async throws -> Int64? {
        try await pool.scalar(PostgresQuery(unsafeSQL: PostgresSQL.untilNextAvailable, binds: Self.bindsOf(injectedNow)),
                              as: Int64.self)
    }

    static func bindsOf(_ now: Int64?) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(now)
        return binds
    }

    public func claim(orderID: Int64, cook: String, leaseSeconds: Double) async throws -> Claim {
        let token = "\(TicketID.generate()).\(orderID)"
        let leaseMS = Self.milliseconds(leaseSeconds)
        return try await writer.write { connection, effects in
            guard let order = try await self.fetchOrder(connection, id: orderID) else { throw StoreError.notFound }
            let claimed = try await self.transition(
                connection, order, .claim,
                detail: "claimed by \(cook) (attempt \(order.attempts + 1) of \(order.maxAttempts))",
                inputs: Transition.Inputs(lease: Transition.Lease(token: token, owner: cook, expiresAt: order.availableAt)),
                timing: Timing(leaseMilliseconds: leaseMS), effects: &effects)
            return Claim(order: claimed, lease: token, leaseExpiresAt: claimed.leaseExpiresAt ?? claimed.availableAt)
        }
    }

    static func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }

    /// The claim as a write (see `claim`): one statement that picks, numbers (the i-th picked is
    /// leased to `cooks[i]`), updates and records events, the lifecycle's claim
    /// (`Lifecycle.claim`) written out by `sets`.
    func claimBody(cooks: [String], leaseSeconds: Double) -> WriteBody<[Claim]> {
        let nodeID = options.nodeID
        let leaseMS = Self.milliseconds(leaseSeconds)
        let cooks = cooks.isEmpty ? ["a cook"] : cooks
        return { connection, effects in
            let token = TicketID.generate()
            let statement = Self.claimStatement(now: self.injectedNow, cooks: cooks, token: token,
                                                leaseMilliseconds: leaseMS, nodeID: nodeID)
            let claimed = try await connection.orders(statement.query, logger: self.logger)
            return claimed.map { order in
                effects.changes.append(order)
                return Claim(order: order, lease: "\(token).\(order.id)", leaseExpiresAt: order.leaseExpiresAt ?? order.cookingAt ?? order.createdAt)
            }
        }
    }

    /// The claim statement (planned each time: see `PreparedStatements.swift`).
    static func claimStatement(now: Int64?, cooks: [String], token: String, leaseMilliseconds: Int64,
                               nodeID: String) -> SQLBuilder {
        var b = SQLBuilder()
        let clock = b.bind(now)
        let limitSQL = b.bind(cooks.count)
        let tokenSQL = b.bind(token)
        let ownersSQL = b.bind(cooks)
        let lease = Transition.Lease(token: token, owner: cooks.first ?? "a cook", expiresAt: Timestamp(milliseconds: 0))
        let sets = Self.sets(Lifecycle.claim, inputs: Transition.Inputs(lease: lease),
                             timing: Timing(leaseMilliseconds: leaseMilliseconds, leaseTokenSQL: "\(tokenSQL) || '.' || o.id",
                                            leaseOwnerSQL: "(\(ownersSQL)::text[])[picked.n]"),
                             nodeID: nodeID, into: &b)
        b.append("""
            WITH clock AS MATERIALIZED (SELECT ticketd_now(\(clock)) AS now),
                 locked AS MATERIALIZED (
                    SELECT id, priority FROM orders
                     WHERE status = 'queued' AND available_at <= (SELECT now FROM clock)
                     ORDER BY priority DESC, id
                     LIMIT \(limitSQL)
                     FOR UPDATE SKIP LOCKED),
                 picked AS MATERIALIZED (
                    SELECT id, row_number() OVER (ORDER BY priority DESC, id) AS n FROM locked),
                 claimed AS (
                    UPDATE orders o SET \(sets) FROM picked, clock
                     WHERE o.id = picked.id AND o.status = 'queued'
                    RETURNING o.*),
                 event AS (
                    INSERT INTO order_events (order_id, from_status, to_status, at, detail)
                    SELECT id, 'queued', 'cooking', cooking_at,
                           'claimed by ' || lease_owner || ' (attempt ' || attempts || ' of ' || max_attempts || ')'
                      FROM claimed ORDER BY id)
            SELECT \(PostgresSQL.columns) FROM claimed ORDER BY priority DESC, id
            """)
        return b
    }

    /// Extends the lease to `leaseSeconds` from the database's now. Throws `leaseLost` if it no
    /// longer holds (expired, cancelled, claimed again).
    public func renewLease(orderID: Int64, lease: String, leaseSeconds: Double) async throws -> Timestamp {
        let leaseMS = Self.milliseconds(leaseSeconds)
        return try await writer.write { connection, _ in
            var binds = PostgresBindings()
            binds.append(self.injectedNow)
            binds.append(leaseMS)
            binds.append(orderID)
            binds.append(lease)
            let rows = try await connection.rows(PostgresQuery(unsafeSQL: PostgresSQL.renewLease, binds: binds),
                                                 logger: self.logger) { try $0.decode(Int64.self) }
            guard let expires = rows.first else {
                throw try await Self.leaseError(connection, orderID: orderID, logger: self.logger)
            }
            // Not a new version: nothing to publish or to tell other nodes.
            return Timestamp(milliseconds: expires)
        }
    }

    public func markReady(orderID: Int64, lease: String) async throws -> Order {
        try await writer.write { connection, effects in
            guard let result = try await self.markReady(connection, [(orderID, lease)], effects: &effects).first else {
                throw StoreError.notFound
            }
            return try result.get()
        }
    }

    /// Marks claims ready in one statement: guarded by id, cooking, the claim's own lease, and the
    /// lease not run out; one that lost its lease fails alone (a guarded UPDATE that matches no row
    /// changes nothing, so no savepoint of its own is needed).
    public func markReady(_ claims: [Claim]) async throws -> [Result<Order, StoreError>] {
        let held = claims.map { ($0.order.id, $0.lease) }
        return try await writer.write { connection, effects in
            try await self.markReady(connection, held, effects: &effects)
        }
    }

    func markReady(_ connection: PostgresConnection, _ held: [(Int64, String)],
                   effects: inout WriteEffects) async throws -> [Result<Order, StoreError>] {
        let statement = Self.markReadyStatement(now: injectedNow, ids: held.map(\.0), leases: held.map(\.1),
                                                nodeID: options.nodeID)
        let ready = try await connection.orders(statement.query, logger: logger)
        let byID = Dictionary(ready.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        effects.changes.append(contentsOf: ready)
        var results: [Result<Order, StoreError>] = []
        for (id, _) in held {
            if let order = byID[id] {
                results.append(.success(order))
            } else {
                results.append(.failure(try await Self.leaseError(connection, orderID: id, logger: logger)))
            }
        }
        return results
    }

    /// The ready statement of several claims, guarded by id, cooking, the claim's own lease and
    /// the lease not run out (planned each time).
    static func markReadyStatement(now: Int64?, ids: [Int64], leases: [String], nodeID: String) -> SQLBuilder {
        var b = SQLBuilder()
        guard case .success(let transition) = Lifecycle.apply(.done, to: .cooking) else { return b }
        let clock = b.bind(now)
        let idsSQL = b.bind(ids)
        let leasesSQL = b.bind(leases)
        let sets = Self.sets(transition, inputs: Transition.Inputs(), timing: Timing(), nodeID: nodeID, into: &b)
        b.append("""
            WITH clock AS MATERIALIZED (SELECT ticketd_now(\(clock)) AS now),
                 held AS MATERIALIZED (
                    SELECT h.id, h.lease, o.lease_owner
                      FROM unnest(\(idsSQL)::bigint[], \(leasesSQL)::text[]) AS h(id, lease)
                      JOIN orders o ON o.id = h.id),
                 changed AS (
                    UPDATE orders o SET \(sets) FROM held, clock
                     WHERE o.id = held.id AND o.status = 'cooking' AND o.lease_token = held.lease
                       AND o.lease_expires_at >= clock.now
                    RETURNING o.*),
                 event AS (
                    INSERT INTO order_events (order_id, from_status, to_status, at, detail)
                    SELECT changed.id, 'cooking', 'ready', clock.now, 'cooked by ' || COALESCE(held.lease_owner, 'a cook')
                      FROM changed JOIN held ON held.id = changed.id, clock ORDER BY changed.id)
            SELECT \(PostgresSQL.columns) FROM changed
            """)
        return b
    }

    /// Reports a failed attempt. With `retry` and attempts left the order goes back to the queue
    /// after backoff; otherwise it is `failed` with `error` kept as its last error.
    public func failAttempt(orderID: Int64, lease: String, error: String, retry: Bool) async throws -> Order {
        let policy = settings.retry
        return try await writer.write { connection, effects in
            let order = try await self.orderHeld(connection, orderID: orderID, lease: lease)
            return try await self.endAttempt(connection, order, leaseToken: lease, error: error, retry: retry,
                                             policy: policy, effects: &effects)
        }
    }

    /// Gives the order back to the queue at once without judging the attempt (graceful shutdown).
    public func handBack(orderID: Int64, lease: String, reason: String) async throws -> Order {
        try await writer.write { connection, effects in
            let order = try await self.orderHeld(connection, orderID: orderID, lease: lease)
            return try await self.transition(connection, order, .attemptFailed(attemptsLeft: true), leaseToken: lease,
                                             leaseMustHold: true, detail: reason,
                                             inputs: Transition.Inputs(availableAt: order.availableAt), effects: &effects)
        }
    }

    /// The end of an attempt that did not make the order ready.
    func endAttempt(_ connection: PostgresConnection, _ order: Order, leaseToken: String?, error: String, retry: Bool,
                    policy: RetryPolicy, effects: inout WriteEffects) async throws -> Order {
        let left = retry && order.attempts < order.maxAttempts
        let error = String(error.prefix(2000))
        if left {
            let delay = policy.backoff(after: order.attempts)
            let delayMS = Self.milliseconds(delay)
            return try await transition(connection, order, .attemptFailed(attemptsLeft: true), leaseToken: leaseToken,
                                        leaseMustHold: leaseToken != nil,
                                        detail: "attempt \(order.attempts) failed, retry in \(delayMS) ms: \(error)",
                                        inputs: Transition.Inputs(lastError: error),
                                        timing: Timing(availableAfterMilliseconds: delayMS), effects: &effects)
        }
        return try await transition(connection, order, .attemptFailed(attemptsLeft: false), leaseToken: leaseToken,
                                    leaseMustHold: leaseToken != nil,
                                    detail: "attempt \(order.attempts) failed, no retry: \(error)",
                                    inputs: Transition.Inputs(lastError: error), effects: &effects)
    }

    /// The order if `lease` still holds it now (by the database's clock); else `notFound` or
    /// `leaseLost` (a lease that has run out is lost even before the rescuer requeues its order).
    func orderHeld(_ connection: PostgresConnection, orderID: Int64, lease: String) async throws -> Order {
        var binds = PostgresBindings()
        binds.append(injectedNow)
        binds.append(lease)
        binds.append(orderID)
        let rows = try await connection.rows(PostgresQuery(unsafeSQL: PostgresSQL.leaseState, binds: binds), logger: logger) {
            (try OrderRecord.order($0), try $0.makeRandomAccess()[20].decode(Bool?.self) ?? false)
        }
        guard let (order, holds) = rows.first, holds else {
            throw try await Self.leaseError(connection, orderID: orderID, logger: logger)
        }
        return order
    }
}
