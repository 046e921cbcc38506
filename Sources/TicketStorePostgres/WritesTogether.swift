import Logging
import PostgresNIO

/// Writes that one statement can run for several requests at once (placements: one round trip
/// for a whole batch of them instead of one each). A request carries, besides its own body, the
/// input the shared statement needs and the function that runs it; the writer gives each run of
/// neighbouring such requests to that function in a batch's first run (no savepoints). If it
/// cannot serve them all (it returns nil or fails), the batch is rolled back and run again with a
/// savepoint per request, each with its own body, as any other write.
struct Together<Input: Sendable, T: Sendable>: Sendable {
    let input: Input
    /// Runs the inputs of neighbouring requests in one statement: a result per input, in order
    /// (a failure refuses that request alone), or nil when it cannot (then each runs alone).
    let run: @Sendable (PostgresConnection, [Input]) async throws -> [Result<(T, WriteEffects), any Error>]?
}

extension PostgresWriter {
    /// Runs `body` in the next batch, or `together.run` for it and its neighbours in the batch;
    /// returns once the batch has committed (see `write`).
    func write<Input: Sendable, T: Sendable>(together: Together<Input, T>,
                                             _ body: @escaping WriteBody<T>) async throws -> T {
        try await enqueue { PendingJoinableRequest(body: body, together: together, continuation: $0) }
    }

    /// Runs `batch[start...]`'s leading requests that share a statement, if there are at least
    /// two; returns how many it ran (0: none, the caller runs `batch[start]` alone) and whether
    /// the transaction is still clean.
    static func runTogether(_ batch: [any PendingPostgresWrite], from start: Int,
                            on connection: PostgresConnection) async throws -> (ran: Int, clean: Bool) {
        guard let first = batch[start] as? any JoinablePostgresWrite else { return (0, true) }
        var group: [any JoinablePostgresWrite] = [first]
        for request in batch[(start + 1)...] {
            guard let next = request as? any JoinablePostgresWrite, next.joins(first) else { break }
            group.append(next)
        }
        guard group.count > 1 else { return (0, true) }
        return (group.count, try await first.runTogether(group, on: connection))
    }
}

/// A pending write that can run together with its neighbours (see `Together`).
protocol JoinablePostgresWrite: PendingPostgresWrite {
    /// True when `other` runs through the same statement.
    func joins(_ other: any JoinablePostgresWrite) -> Bool
    /// Runs `group` (self first) in one statement and keeps each one's outcome. Returns false
    /// when the batch must run again with savepoints; throws when the connection failed.
    func runTogether(_ group: [any JoinablePostgresWrite], on connection: PostgresConnection) async throws -> Bool
}

/// A request of `write(together:)`: its own body for a run alone, `together` for a run with its
/// neighbours.
final class PendingJoinableRequest<Input: Sendable, T: Sendable>: PendingPostgresRequest<T>, JoinablePostgresWrite,
    @unchecked Sendable {
    let together: Together<Input, T>

    init(body: @escaping WriteBody<T>, together: Together<Input, T>, continuation: CheckedContinuation<T, any Error>) {
        self.together = together
        super.init(body: body, continuation: continuation)
    }

    func joins(_ other: any JoinablePostgresWrite) -> Bool { other is PendingJoinableRequest<Input, T> }

    func runTogether(_ group: [any JoinablePostgresWrite], on connection: PostgresConnection) async throws -> Bool {
        let requests = group.compactMap { $0 as? PendingJoinableRequest<Input, T> }
        guard requests.count == group.count else { return false }
        let results: [Result<(T, WriteEffects), any Error>]?
        do {
            results = try await together.run(connection, requests.map(\.together.input))
        } catch {
            if connection.isClosed || PostgresErrors.isConnectionLoss(error) { throw error }
            return false
        }
        guard let results, results.count == requests.count else { return false }
        for (request, result) in zip(requests, results) { request.settle(result) }
        return true
    }
}
