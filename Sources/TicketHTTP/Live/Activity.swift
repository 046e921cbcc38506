import Foundation
import Synchronization
import TicketCore

/// What the commits of the last 15 minutes tell, kept from the change feed (no query): orders
/// placed and finished per 30-second bucket, how long the orders that became ready waited
/// (placement → ready) and cooked (cooking → ready), and the live counts sampled while the
/// bucket ran. The board's typical wait and the console's charts are read from it.
///
/// Waits are kept as log-scale histograms (bins 5 % wide) per bucket, so memory stays fixed
/// however many orders move: a median over the window merges 30 histograms.
final class Activity: Sendable {
    static let bucketMillis: Int64 = 30_000
    static let bucketCount = 30
    static var windowSeconds: Int { Int(bucketMillis / 1000) * bucketCount }

    /// Counts of a log-scale histogram of milliseconds: bin `b` holds values in
    /// [1.05^b − 1, 1.05^(b+1) − 1).
    struct Histogram: Sendable {
        static let binCount = 420   // up to 1.05^420 ms: beyond a week
        private(set) var bins: [UInt32] = []
        private(set) var count = 0

        mutating func add(milliseconds: Int64) {
            if bins.isEmpty { bins = Array(repeating: 0, count: Self.binCount) }
            let v = Double(max(0, milliseconds))
            let bin = min(Self.binCount - 1, Int(log(v + 1) / log(1.05)))
            bins[bin] &+= 1
            count += 1
        }

        mutating func merge(_ other: Histogram) {
            guard other.count > 0 else { return }
            if bins.isEmpty { bins = Array(repeating: 0, count: Self.binCount) }
            for i in 0..<Self.binCount { bins[i] &+= other.bins[i] }
            count += other.count
        }

        /// The value below which `fraction` of the samples lie (the bin's middle), in seconds;
        /// nil when empty.
        func quantileSeconds(_ fraction: Double) -> Double? {
            guard count > 0 else { return nil }
            let rank = max(1, Int((Double(count) * fraction).rounded(.up)))
            var seen = 0
            for (bin, n) in bins.enumerated() {
                seen += Int(n)
                if seen >= rank {
                    return (pow(1.05, Double(bin) + 0.5) - 1) / 1000
                }
            }
            return nil
        }
    }

    struct Bucket: Sendable {
        var start: Int64
        var placed = 0
        var ready = 0
        var pickedUp = 0
        var cancelled = 0
        var failed = 0
        var expired = 0
        /// Back to the queue after a cooking attempt, or requeued by an operator.
        var requeued = 0
        var waits = Histogram()
        var cooks = Histogram()
        /// Live counts sampled while the bucket ran (the last sample), nil if none was taken.
        var live: [OrderStatus: Int]?

        init(start: Int64) { self.start = start }
    }

    private let buckets = Mutex<[Bucket]>([])

    init() {}

    /// Takes in one commit's changes (`now`: the store's time).
    func record(_ changes: [OrderChange], now: Timestamp) {
        buckets.withLock { all in
            Self.withCurrent(&all, now: now) { b in
                for change in changes {
                    switch change.status {
                    case .queued: if change.version == 1 { b.placed += 1 } else { b.requeued += 1 }
                    case .cooking: break
                    case .ready:
                        b.ready += 1
                        if let wait = change.waitMilliseconds { b.waits.add(milliseconds: wait) }
                        if let cook = change.cookMilliseconds { b.cooks.add(milliseconds: cook) }
                    case .pickedUp: b.pickedUp += 1
                    case .cancelled: b.cancelled += 1
                    case .failed: b.failed += 1
                    case .expired: b.expired += 1
                    }
                }
            }
        }
    }

    /// Records the live counts (queued, cooking, ready) as the current bucket's sample.
    func sample(_ counts: [OrderStatus: Int], now: Timestamp) {
        buckets.withLock { all in Self.withCurrent(&all, now: now) { $0.live = counts } }
    }

    /// The median wait from placement to ready of the orders that became ready in the last 15
    /// minutes, in seconds; nil when none did.
    func typicalWait(now: Timestamp) -> Double? {
        window(now: now).reduce(into: Histogram()) { $0.merge($1.waits) }.quantileSeconds(0.5)
    }

    /// The window's buckets, oldest first, ending with the current one (empty ones included).
    func window(now: Timestamp) -> [Bucket] {
        let current = Self.bucketStart(now)
        let first = current - Int64(Self.bucketCount - 1) * Self.bucketMillis
        let kept = buckets.withLock { $0.filter { $0.start >= first } }
        var out: [Bucket] = []
        out.reserveCapacity(Self.bucketCount)
        var index = 0
        var start = first
        while start <= current {
            while index < kept.count, kept[index].start < start { index += 1 }
            if index < kept.count, kept[index].start == start { out.append(kept[index]) } else { out.append(Bucket(start: start)) }
            start += Self.bucketMillis
        }
        return out
    }

    static func bucketStart(_ t: Timestamp) -> Int64 {
        let ms = t.milliseconds
        return ms - ((ms % bucketMillis) + bucketMillis) % bucketMillis
    }

    /// Runs `body` on the bucket of `now` (made if missing), dropping buckets out of the window.
    private static func withCurrent(_ all: inout [Bucket], now: Timestamp, _ body: (inout Bucket) -> Void) {
        let start = bucketStart(now)
        if let last = all.indices.last, all[last].start == start {
            body(&all[last])
            return
        }
        if let i = all.lastIndex(where: { $0.start == start }) {
            body(&all[i])   // a clock that went back: the bucket is still there
            return
        }
        var bucket = Bucket(start: start)
        body(&bucket)
        all.append(bucket)
        all.sort { $0.start < $1.start }
        let oldest = start - Int64(bucketCount) * bucketMillis
        all.removeAll { $0.start <= oldest }
    }
}
