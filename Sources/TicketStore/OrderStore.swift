import TicketCore
import TicketWaiting

/// What HTTP, the kitchen and the daemon may ask of storage — and nothing of how a store keeps
/// it. One SQLite file (`TicketStoreSQLite`) is one implementation; a second must pass the same
/// contract suite (`Tests/TicketStoreContractTests`).
///
/// Every write is durable when it returns (a 2xx may be sent), guarded by the state it expects
/// (a row found in another state changes nothing and is reported), and published to `changes`
/// after its commit, never before. The lifecycle in `TicketCore` decides every transition;
/// a store translates `Transition.effects` into its own SQL.
public protocol OrderStore: AnyObject, Sendable {
    // MARK: Change feed, time, settings

    /// Committed changes of tickets, and "work is available": what long polls, SSE streams and
    /// idle cooks wait on.
    var changes: ChangeFeed { get }

    /// The store's clock: the time it stamps on what it writes (tests inject one).
    func now() -> Timestamp

    var settings: StoreSettings { get }
    /// Replaces the settings (SIGHUP reload).
    func update(settings: StoreSettings)

    // MARK: Customer

    /// Places an order: allocates its number and ticket id, writes the order, its first event and
    /// the idempotency key with the rendered answer, durably. A replay of the key with the same
    /// request answers the stored placement (`replayed`); with another request it throws
    /// `idempotencyKeyReused`. Throws `queueFull`, `numbersExhausted`, `unavailable`.
    func place(_ order: NewOrder, idempotency: IdempotencyKey?, answer: PlacementAnswer) async throws -> Placement

    /// The order holding `ticket` and, while it is queued, its position; nil if unknown.
    func ticket(_ ticket: String) async throws -> TicketState?

    /// Queued orders that will be claimed before `order` (0 = next).
    func position(of order: Order) async throws -> Int

    /// Cancels the order of `ticket` while it is still queued (`invalidTransition` once cooking).
    func cancel(ticket: String) async throws -> Order
    /// Collects the ready order of `ticket` (`invalidTransition` if it is not ready).
    func pickup(ticket: String) async throws -> Order

    /// The public board: live numbers, preparing (queued or cooking) and ready.
    func board() async throws -> Board

    /// The public board with at most `limit` numbers per column (the lowest) and each column's
    /// exact count: what the board's live feed sends, computed up to four times a second, so it
    /// must not cost a read of every live order. A default (from `board()`) serves any store; a
    /// store with indexes for it answers cheaper.
    func boardSummary(limit: Int) async throws -> BoardSummary

    // MARK: Operator

    func order(id: Int64) async throws -> Order?
    /// The order and its history, oldest event first.
    func orderWithEvents(id: Int64) async throws -> (Order, [OrderEventRecord])?
    /// Orders oldest first, optionally of one status, after the id `after`.
    func listOrders(status: OrderStatus?, limit: Int, after: Int64?) async throws -> [Order]
    /// Cancels any order not yet final; a cooking order's lease is revoked.
    func operatorCancel(id: Int64) async throws -> Order
    /// Puts a failed order back in the queue with fresh attempts.
    func requeue(id: Int64) async throws -> Order
    /// Live orders by status (queued, cooking, ready).
    func liveCounts() async throws -> [OrderStatus: Int]

    // MARK: Kitchen

    /// Claims up to `cooks.count` claimable orders in claim order (rush first, then oldest), in
    /// one write: the first is leased to `cooks[0]`, the second to `cooks[1]`, and so on (a name
    /// may repeat: a cook taking several orders). Each gets its own lease and one attempt counted.
    /// When none is claimable now, waits for work until `deadline`, the earliest retry's backoff,
    /// or until `wanted` says no (checked whenever work is signalled: shutdown, a lowered cook
    /// count); empty if none came.
    func claim(cooks: [String], leaseSeconds: Double, until deadline: ContinuousClock.Instant,
               while wanted: @escaping @Sendable () -> Bool) async throws -> [Claim]

    /// Claims the order `orderID` for `cook` while it is queued (a kitchen screen's *start* on a
    /// card), with a lease and one attempt counted, whether or not it is next in claim order.
    /// Throws `notFound`, or `invalidTransition` once it is no longer queued: two screens never
    /// cook the same order.
    func claim(orderID: Int64, cook: String, leaseSeconds: Double) async throws -> Claim

    /// Extends the lease to `leaseSeconds` from now. Throws `leaseLost` if it no longer holds.
    func renewLease(orderID: Int64, lease: String, leaseSeconds: Double) async throws -> Timestamp
    /// Marks the order ready. Throws `leaseLost` if the lease no longer holds: a late `ready`
    /// from a lost lease never overwrites a newer attempt.
    func markReady(orderID: Int64, lease: String) async throws -> Order
    /// Marks several claims ready in one write; one that lost its lease fails alone.
    func markReady(_ claims: [Claim]) async throws -> [Result<Order, StoreError>]
    /// A failed attempt: back to the queue after backoff while attempts remain and `retry`,
    /// else `failed` with `error` kept.
    func failAttempt(orderID: Int64, lease: String, error: String, retry: Bool) async throws -> Order
    /// Gives the order back to the queue at once without judging the attempt (shutdown).
    func handBack(orderID: Int64, lease: String, reason: String) async throws -> Order

    // MARK: Sweeps

    /// Requeues (or fails, with no attempts left) cooking orders whose lease has run out.
    func requeueExpiredLeases(limit: Int) async throws -> [Order]
    /// Ready orders not collected within `pickupTimeout` seconds become `expired`.
    func expireUncollected(pickupTimeout: Double, limit: Int) async throws -> [Order]
    /// Deletes up to `limit` orders that reached a final state before `cutoff`, with their
    /// events and idempotency keys. Returns how many were deleted.
    func pruneFinished(before cutoff: Timestamp, limit: Int) async throws -> Int
    /// Takes in writes made by someone else (an operator's `sqlite3`, another node), and signals
    /// work when a queued order is claimable now that no commit announced (a retry whose backoff
    /// ended, an outside insert). Returns whether it signalled.
    func sweepOutsideWrites() async throws -> Bool

    // MARK: Health and lifecycle

    /// True if the database answers a trivial read (for /readyz).
    func isHealthy() async -> Bool
    /// True when the store's writes are being served within `timeout`, or the database itself
    /// refuses them (a full disk: the store runs, its environment refuses) — for the watchdog.
    func writesAnswer(within timeout: Duration) async -> Bool
    /// Commits and writes so far, for `/metrics`.
    var statistics: StoreStatistics { get }
    /// Runs the store's background work (the group-commit writer) until graceful shutdown or
    /// `stop()`.
    func run() async
    /// Stops taking writes (later ones fail with `closed`); `run()` writes what is pending and
    /// returns. Graceful shutdown does the same.
    func stop()
    /// Closes the store once `run()` has returned: a clean stop leaves the database whole.
    func close() throws
}

extension OrderStore {
    /// From `board()`: right for every store, at the cost of reading every live number.
    public func boardSummary(limit: Int) async throws -> BoardSummary {
        let board = try await board()
        return BoardSummary(preparing: Array(board.preparing.prefix(limit)), ready: Array(board.ready.prefix(limit)),
                            preparingCount: board.preparing.count, readyCount: board.ready.count)
    }

    /// Places an order answered as a new ticket (202) with a plain estimate (one cook).
    public func place(_ order: NewOrder, idempotency: IdempotencyKey? = nil) async throws -> Placement {
        try await place(order, idempotency: idempotency, answer: PlacementAnswer(estimate: ReadyEstimate(cooks: 1)))
    }

    /// The sweeps with their usual batch sizes (100 leases or ready orders, 500 pruned orders).
    public func requeueExpiredLeases() async throws -> [Order] { try await requeueExpiredLeases(limit: 100) }
    public func expireUncollected(pickupTimeout: Double) async throws -> [Order] {
        try await expireUncollected(pickupTimeout: pickupTimeout, limit: 100)
    }
    public func pruneFinished(before cutoff: Timestamp) async throws -> Int { try await pruneFinished(before: cutoff, limit: 500) }

    /// Claims up to `limit` claimable orders for `cook` (see `claim(cooks:…)`).
    public func claim(cook: String, leaseSeconds: Double, limit: Int, until deadline: ContinuousClock.Instant,
                      while wanted: @escaping @Sendable () -> Bool) async throws -> [Claim] {
        try await claim(cooks: Array(repeating: cook, count: max(1, limit)), leaseSeconds: leaseSeconds,
                        until: deadline, while: wanted)
    }

    /// Claims the next claimable order without waiting; nil when none is claimable now.
    public func claimNext(cook: String, leaseSeconds: Double) async throws -> Claim? {
        try await claimNext(cook: cook, leaseSeconds: leaseSeconds, limit: 1).first
    }

    /// Claims up to `limit` claimable orders without waiting; empty when none is claimable now.
    public func claimNext(cook: String, leaseSeconds: Double, limit: Int) async throws -> [Claim] {
        try await claim(cook: cook, leaseSeconds: leaseSeconds, limit: limit, until: .now, while: { true })
    }

    /// Marks one claim ready (see `markReady(_ claims:)`). Throws `leaseLost` or `notFound`.
    public func markReady(_ claim: Claim) async throws -> Order {
        guard let result = try await markReady([claim]).first else { throw StoreError.notFound }
        return try result.get()
    }
}
