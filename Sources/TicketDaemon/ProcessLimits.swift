import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Process-wide settings that keep resource limits from ending the daemon.
enum ProcessLimits {
    /// A write past `RLIMIT_FSIZE` (`prlimit --fsize`, `ulimit -f`) raises SIGXFSZ, whose default
    /// action ends the process with a core dump: one oversized WAL append would kill the daemon
    /// with every waiting client. Ignored, the write fails with EFBIG instead; SQLite reports an
    /// I/O error, the batch is answered 503 and nothing acknowledged is touched.
    static func ignoreFileSizeSignal() {
        _ = signal(SIGXFSZ, SIG_IGN)
    }

    /// Raises the soft limit on open files to the hard limit: every connection is a descriptor,
    /// and the usual soft limit (1024) would make `accept` fail long before `max_connections` or
    /// `max_waiters` is reached, leaving clients unanswered in the listen backlog. Warns when even
    /// the hard limit is below what `max_connections` needs (`OpenFileBudget`).
    static func raiseOpenFileLimit(toFit config: DaemonConfiguration, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Self.openFiles, &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Self.openFiles, &raised) == 0 { limit = raised }
        }
        if !OpenFileBudget.fits(limit: UInt64(limit.rlim_cur), maxConnections: config.maxConnections) {
            logger.warning("the open-file limit is below what max_connections needs; past it, new connections wait unanswered",
                           metadata: ["limit": "\(limit.rlim_cur)", "max_connections": "\(config.maxConnections)",
                                      "needed": "\(OpenFileBudget.needed(maxConnections: config.maxConnections))"])
        }
    }

    #if canImport(Glibc)
    private static let openFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let openFiles = RLIMIT_NOFILE
    #endif
}

/// What the open-file limit must allow for `max_connections`: one descriptor per connection,
/// plus a reserve for the rest (the database, its WAL and readers, the listener, the standard
/// streams, command cooks' pipes). The defaults (`max_connections: 16000`) fit a hard limit of
/// 20,000, a common one, with room to spare.
public enum OpenFileBudget {
    /// Descriptors kept beyond the connections.
    public static let reserve: UInt64 = 256

    /// The open-file limit that `maxConnections` connections need.
    public static func needed(maxConnections: Int) -> UInt64 {
        UInt64(max(0, maxConnections)) + reserve
    }

    /// Whether an open-file limit of `limit` leaves room for `maxConnections`; ticketd warns at
    /// start when it does not.
    public static func fits(limit: UInt64, maxConnections: Int) -> Bool {
        limit >= needed(maxConnections: maxConnections)
    }
}
