import GRDB
import Synchronization

/// What the requests of one writer batch keep for the next requests of the same batch: the
/// placements made so far (the queue index follows commits only) and the last ticket number
/// handed out. Valid for one run of one batch (`GroupCommitWriter.currentBatch`); a batch that
/// runs again starts afresh.
final class WriterCache: Sendable {
    struct Batch {
        var batch: UInt64 = 0
        var placedNormal = 0
        var placedRush = 0
        /// The last ticket number handed out in this batch (nil: none yet; the counter row holds
        /// the last one). `writeCounter` writes it once, before the batch commits.
        var lastNumber: Int?
        /// The highest number a live order holds in this batch's transaction (nil: not read yet;
        /// see `highestLiveNumber`).
        var highestLive: Int?
    }

    private let state = Mutex(Batch())

    /// `body` on the figures of `batch` (reset when another batch began since the last call).
    func withBatch<R: Sendable>(_ batch: UInt64, _ body: (inout Batch) throws -> R) rethrows -> R {
        try state.withLock { b in
            if b.batch != batch { b = Batch(batch: batch) }
            return try body(&b)
        }
    }

    /// The highest number a live order holds, as this batch's transaction sees it: read once a
    /// batch (one step down the end of `orders_live_number`), then raised by each placement of
    /// the batch. A number above it is free without a look at the index, which is every
    /// placement's case until the numbers wrap. A transition that makes a final order live again
    /// (an operator's requeue) must call `forgetHighestLive`.
    func highestLiveNumber(_ db: Database, batch: UInt64) throws -> Int {
        try withBatch(batch) { b in
            if let highest = b.highestLive { return highest }
            let highest = try Int.fetchOne(db.cachedStatement(sql: SQL.highestLiveNumber)) ?? 0
            b.highestLive = highest
            return highest
        }
    }

    /// A final order became live again in `batch`: the highest live number is read anew.
    func forgetHighestLive(batch: UInt64) {
        withBatch(batch) { $0.highestLive = nil }
    }

    /// Writes the last ticket number `batch` handed out, if any, to the counter row (once per
    /// batch, not once per placement); runs last in the batch's transaction.
    func writeCounter(_ db: Database, batch: UInt64) throws {
        if let last = withBatch(batch, { $0.lastNumber }) {
            try db.cachedStatement(sql: SQL.setLastNumber).execute(arguments: [last])
        }
    }
}
