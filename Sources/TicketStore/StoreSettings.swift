import TicketCore

/// The store's tunables that configuration sets (and SIGHUP may change).
public struct StoreSettings: Sendable, Hashable {
    /// Ticket numbers run 1...maxNumber.
    public var maxNumber: Int
    /// Placements are refused with `queueFull` once this many orders are `queued`.
    public var maxQueued: Int
    /// Runs allowed per order, and the backoff between them.
    public var retry: RetryPolicy

    public init(maxNumber: Int = 999, maxQueued: Int = 10_000,
                retry: RetryPolicy = RetryPolicy(maxAttempts: 3, baseSeconds: 1, maxSeconds: 60)) {
        self.maxNumber = maxNumber
        self.maxQueued = maxQueued
        self.retry = retry
    }
}
