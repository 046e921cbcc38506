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

/// How the database file is opened.
public struct DatabaseOptions: Sendable, Hashable {
    public enum Synchronous: String, Sendable, Hashable, CaseIterable {
        case full = "FULL"
        case normal = "NORMAL"
    }

    public var path: String
    /// `FULL` (the default): a 2xx answer means the order survives power loss.
    public var synchronous: Synchronous
    /// How long a write waits for a lock held by another process before failing with 503.
    public var busyTimeoutSeconds: Double
    /// Reader connections for GETs, long polls and the board.
    public var maxReaders: Int
    /// The writer connection's page cache, in KiB (readers keep SQLite's 2 MiB each). The pages
    /// are only allocated as they are read, so a small database uses what it needs.
    public static let writerCacheKiB = 32 * 1024

    public init(path: String, synchronous: Synchronous = .full, busyTimeoutSeconds: Double = 5, maxReaders: Int = 8) {
        self.path = path
        self.synchronous = synchronous
        self.busyTimeoutSeconds = busyTimeoutSeconds
        self.maxReaders = maxReaders
    }
}
