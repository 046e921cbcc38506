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
    /// the hard limit is below what `max_connections` needs.
    static func raiseOpenFileLimit(toFit config: DaemonConfiguration, logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Self.openFiles, &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Self.openFiles, &raised) == 0 { limit = raised }
        }
        // Descriptors beyond connections: the database (and its WAL and readers), the listener,
        // standard streams, cooks' pipes.
        let needed = UInt64(config.maxConnections) + 256
        if UInt64(limit.rlim_cur) < needed {
            logger.warning("the open-file limit is below what max_connections needs; past it, new connections wait unanswered",
                           metadata: ["limit": "\(limit.rlim_cur)", "max_connections": "\(config.maxConnections)"])
        }
    }

    #if canImport(Glibc)
    private static let openFiles = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let openFiles = RLIMIT_NOFILE
    #endif
}
