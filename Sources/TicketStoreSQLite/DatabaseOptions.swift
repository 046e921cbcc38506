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
