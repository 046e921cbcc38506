import Foundation

/// Runs `body`, which blocks (it waits for child processes such as initdb, pg_ctl and psql, or for
/// the disk, as a store's open and close do with their migrations and checkpoint), on a thread of
/// its own. On the cooperative pool (two threads on two cores) such waits held threads for
/// seconds while many suites ran at once, and every async test of the process stood still: one
/// run of the test command had the HTTP tests pass their 60 s limits while the PostgreSQL
/// cluster started.
@discardableResult
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
