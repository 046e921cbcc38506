import Logging
import PostgresNIO
import TicketCore
import TicketStore

/// The guarded transition every status change goes through, and the SQL of a transition's
/// effects. The lifecycle (`TicketCore.Lifecycle`) decides what a transition does; this file only
/// says how PostgreSQL writes it. Times are the database's (`clock.now`).
extension PostgresOrderStore {
    /// What a transition takes besides the lifecycle's inputs, as durations from the database's
    /// now (a node's clock never sets a time): the claim's lease and the retry's backoff.
    struct Timing: Sendable {
        var leaseMilliseconds: Int64?
        var availableAfterMilliseconds: Int64?
        /// The claim's lease token as SQL (a claim of several orders appends each id).
        var leaseTokenSQL: String?
        /// The claim's lease owner as SQL (a claim for several cooks picks each order's).
        var leaseOwnerSQL: String?
    }

    /// The SET clause of `transition` (status and version included), binding into `b`. `clock`
    /// is in the statement's FROM list. A column set twice keeps the last assignment, as
    /// `Transition.applied` does (inputs after effects); PostgreSQL refuses two, so they merge here.
    static func sets(_ transition: Transition, inputs: Transition.Inputs, timing: Timing, nodeID: String,
                     into b: inout SQLBuilder) -> String {
        var columns: [String] = []
        var values: [String: String] = [:]
        func set(_ column: String, _ value: String) {
            if values[column] == nil { columns.append(column) }
            values[column] = value
        }
        set("status", b.bind(transition.to.rawValue))
        set("version", "o.version + \(transition.versionBump)")
        for effect in transition.effects {
            switch effect {
            case .takeLease:
                set("lease_token", timing.leaseTokenSQL ?? b.bind(inputs.lease?.token))
                set("lease_owner", timing.leaseOwnerSQL ?? b.bind(inputs.lease?.owner))
                set("lease_node", b.bind(nodeID))
                set("lease_expires_at", "clock.now + \(b.bind(timing.leaseMilliseconds ?? 0)) * interval '1 millisecond'")
            case .countAttempt: set("attempts", "o.attempts + 1")
            case .stampCookingAt: set("cooking_at", "clock.now")
            case .releaseLease:
                set("lease_token", "NULL")
                set("lease_owner", "NULL")
                set("lease_node", "NULL")
                set("lease_expires_at", "NULL")
            case .clearCookingAt: set("cooking_at", "NULL")
            case .stampReadyAt: set("ready_at", "clock.now")
            case .stampFinishedAt: set("finished_at", "clock.now")
            case .resetProgress:
                set("attempts", "0")
                set("cooking_at", "NULL")
                set("ready_at", "NULL")
                set("finished_at", "NULL")
                set("last_error", "NULL")
            }
        }
        if let lastError = inputs.lastError { set("last_error", b.bind(lastError)) }
        if let after = timing.availableAfterMilliseconds {
            set("available_at", "clock.now + \(b.bind(after)) * interval '1 millisecond'")
        } else if inputs.availableAt != nil {
            set("available_at", "clock.now")
        }
        return columns.map { "\($0) = \(values[$0] ?? "NULL")" }.joined(separator: ", ")
    }

    /// Applies `event` to `order` (as read in this batch): checks the lifecycle, runs one guarded
    /// statement (`WHERE id AND status AND version [AND lease_token] [AND lease not run out]`)
    /// that updates the row and records the event, and adds the new state to `effects`. Throws
    /// `invalidTransition`, or `leaseLost` when the guard matched no row.
    func transition(_ connection: PostgresConnection, _ order: Order, _ event: OrderEvent, leaseToken: String? = nil,
                    leaseMustHold: Bool = false, detail: String?, inputs: Transition.Inputs = Transition.Inputs(),
                    timing: Timing = Timing(), effects: inout WriteEffects) async throws -> Order {
        let updated = try await Self.applyTransition(connection, order, event, leaseToken: leaseToken,
                                                     leaseMustHold: leaseMustHold, detail: detail, inputs: inputs,
                                                     timing: timing, now: injectedNow, nodeID: options.nodeID, logger: logger)
        effects.changes.append(updated)
        if updated.status == .queued {
            effects.workAdded = true
            countPlacedInBatch(updated.priority)
        }
        return updated
    }

    /// The guarded statement of a transition, without publishing anything (start-up hand-back
    /// runs before the writer).
    static func applyTransition(_ connection: PostgresConnection, _ order: Order, _ event: OrderEvent,
                                leaseToken: String? = nil, leaseMustHold: Bool = false, detail: String?,
                                inputs: Transition.Inputs = Transition.Inputs(), timing: Timing = Timing(),
                                now: Int64?, nodeID: String, logger: Logger) async throws -> Order {
        let transition: Transition
        switch Lifecycle.apply(event, to: order.status) {
        case .success(let t): transition = t
        case .failure(let invalid): throw StoreError.invalidTransition(invalid)
        }
        let b = transitionStatement(transition, orderID: order.id, status: order.status, version: order.version,
                                    leaseToken: leaseToken, leaseMustHold: leaseMustHold, detail: detail,
                                    inputs: inputs, timing: timing, now: now, nodeID: nodeID)
        guard let updated = try await run(b, on: connection, logger: logger).first else {
            if leaseToken != nil { throw try await leaseError(connection, orderID: order.id, logger: logger) }
            throw StoreError.invalidTransition(InvalidTransition(from: order.status, event: event))
        }
        return updated
    }

    /// The guarded statement of `transition` on the order `orderID` as read (`status`, `version`):
    /// updates the row, records the event, returns the new row. Its text depends only on the
    /// transition and which guards and inputs are given; the values are bound.
    static func transitionStatement(_ transition: Transition, orderID: Int64, status: OrderStatus, version: Int,
                                    leaseToken: String?, leaseMustHold: Bool, detail: String?,
                                    inputs: Transition.Inputs, timing: Timing, now: Int64?, nodeID: String) -> SQLBuilder {
        transitionStatement(transition, target: .row(id: orderID, version: version), status: status, leaseToken: leaseToken,
                            leaseMustHold: leaseMustHold, detail: detail, inputs: inputs, timing: timing, now: now,
                            nodeID: nodeID)
    }

    /// The row a transition's statement changes: the one read (by id, at the version read), or
    /// the order of a ticket in the status the transition starts from (no read before).
    enum TransitionTarget {
        case row(id: Int64, version: Int)
        case ticket(String)
    }

    static func transitionStatement(_ transition: Transition, target: TransitionTarget, status: OrderStatus,
                                    leaseToken: String?, leaseMustHold: Bool, detail: String?,
                                    inputs: Transition.Inputs, timing: Timing, now: Int64?, nodeID: String) -> SQLBuilder {
        var b = SQLBuilder()
        let clock = b.bind(now)
        let sets = Self.sets(transition, inputs: inputs, timing: timing, nodeID: nodeID, into: &b)
        var guards: String
        switch target {
        case .row(let id, let version):
            guards = "o.id = \(b.bind(id)) AND o.status = \(b.bind(status.rawValue)) AND o.version = \(b.bind(version))"
        case .ticket(let ticket):
            guards = "o.ticket = \(b.bind(ticket)) AND o.status = \(b.bind(status.rawValue))"
        }
        if let leaseToken { guards += " AND o.lease_token = \(b.bind(leaseToken))" }
        if leaseMustHold { guards += " AND o.lease_expires_at >= clock.now" }
        let from = b.bind(transition.from.rawValue)
        let to = b.bind(transition.to.rawValue)
        let detailSQL = b.bind(detail)
        b.append("""
            WITH clock AS MATERIALIZED (SELECT ticketd_now(\(clock)) AS now),
                 changed AS (UPDATE orders o SET \(sets) FROM clock WHERE \(guards) RETURNING o.*),
                 event AS (INSERT INTO order_events (order_id, from_status, to_status, at, detail)
                           SELECT changed.id, \(from), \(to), clock.now, \(detailSQL)::text FROM changed, clock)
            SELECT \(PostgresSQL.columns) FROM changed
            """)
        return b
    }

    /// Runs a transition's statement: prepared when its text is one of the finishing transitions'
    /// (`FinishOrder`, `FinishByTicket`: a customer's cancel and pickup, an expiry), parsed
    /// otherwise. Returns the changed row, if the guard matched.
    static func run(_ b: SQLBuilder, on connection: PostgresConnection, logger: Logger) async throws -> [Order] {
        switch b.sql {
        case FinishOrder.sql: return try await connection.all(FinishOrder(binds: b.binds), logger: logger)
        case FinishByTicket.sql: return try await connection.all(FinishByTicket(binds: b.binds), logger: logger)
        default: return try await connection.orders(b.query, logger: logger)
        }
    }

    static func leaseError(_ connection: PostgresConnection, orderID: Int64, logger: Logger) async throws -> StoreError {
        let exists = try await connection.rows("SELECT EXISTS (SELECT 1 FROM orders WHERE id = \(orderID))", logger: logger) {
            try $0.decode(Bool.self)
        }.first ?? false
        return exists ? .leaseLost : .notFound
    }

    /// Placements and requeues of the running batch, for positions and `max_queued` before the
    /// queue index (which follows commits) has them.
    func countPlacedInBatch(_ priority: OrderPriority) {
        let batch = writer.currentBatch
        writerCache.withLock { c in
            if c.batch != batch { c = WriterCache(batch: batch) }
            if priority == .rush { c.placedRush += 1 } else { c.placedNormal += 1 }
        }
    }

    func placedInBatch() -> (normal: Int, rush: Int) {
        let batch = writer.currentBatch
        return writerCache.withLock { c in
            if c.batch != batch { c = WriterCache(batch: batch) }
            return (c.placedNormal, c.placedRush)
        }
    }

    /// Runs `event` on the order found by `find`, in the next batch.
    func transitionOrder(find: @escaping @Sendable (PostgresConnection) async throws -> Order?, event: OrderEvent,
                         detail: String?, inputs: Transition.Inputs = Transition.Inputs()) async throws -> Order {
        try await writer.write { connection, effects in
            guard let order = try await find(connection) else { throw StoreError.notFound }
            return try await self.transition(connection, order, event, detail: detail, inputs: inputs, effects: &effects)
        }
    }

    func fetchOrder(_ connection: PostgresConnection, ticket: String) async throws -> Order? {
        try await connection.all(TicketByTicket(ticket: ticket), logger: logger).first
    }

    func fetchOrder(_ connection: PostgresConnection, id: Int64) async throws -> Order? {
        try await connection.all(OrderByID(id: id), logger: logger).first
    }

    // MARK: Customer

    public func cancel(ticket: String) async throws -> Order {
        try await finish(ticket: ticket, event: .cancel, from: .queued, detail: "cancelled by the customer")
    }

    public func pickup(ticket: String) async throws -> Order {
        try await finish(ticket: ticket, event: .pickup, from: .ready, detail: "picked up")
    }

    /// A customer's cancel or pickup: first one statement straight at the ticket's row, guarded by
    /// the status the event applies to (prepared, `run`: no read before it); when that
    /// matches no row, as any transition (the order read, the lifecycle's refusal).
    func finish(ticket: String, event: OrderEvent, from status: OrderStatus, detail: String) async throws -> Order {
        let nodeID = options.nodeID
        return try await writer.write { connection, effects in
            if case .success(let transition) = Lifecycle.apply(event, to: status) {
                let b = Self.transitionStatement(transition, target: .ticket(ticket), status: status, leaseToken: nil,
                                                 leaseMustHold: false, detail: detail, inputs: Transition.Inputs(),
                                                 timing: Timing(), now: self.injectedNow, nodeID: nodeID)
                if let updated = try await Self.run(b, on: connection, logger: self.logger).first {
                    effects.changes.append(updated)
                    return updated
                }
            }
            guard let order = try await self.fetchOrder(connection, ticket: ticket) else { throw StoreError.notFound }
            return try await self.transition(connection, order, event, detail: detail, effects: &effects)
        }
    }

    // MARK: Operator

    public func operatorCancel(id: Int64) async throws -> Order {
        try await transitionOrder(find: { try await self.fetchOrder($0, id: id) }, event: .operatorCancel,
                                  detail: "cancelled by an operator")
    }

    public func requeue(id: Int64) async throws -> Order {
        try await transitionOrder(find: { try await self.fetchOrder($0, id: id) }, event: .operatorRequeue,
                                  detail: "requeued by an operator", inputs: Transition.Inputs(availableAt: now()))
    }
}
