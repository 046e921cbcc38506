import Synchronization
import TicketCore
import TicketStore

/// The latest committed state of live orders, by ticket id, so that a poll answers from memory
/// instead of a reader connection (a reader hop costs more than the rest of a poll).
///
/// The writer stores states after each commit, in commit order, so an entry is never older than
/// the database: a poll never sees a state go backwards. Orders reaching a final state leave it.
/// Writes by other processes empty it when the writer notices them (`PRAGMA data_version`, at
/// least at every sweep), so an operator's `sqlite3` change shows within the sweep interval.
///
/// At a start the store fills it with the live orders already in the database
/// (`SQLiteOrderStore.warmTicketCache`). A miss (an order not loaded yet, one evicted, a final
/// one) reads the database, and
/// the poll puts a live order it read into the cache (`fill`) unless the cache may have lost
/// track of a newer state meanwhile: each fill carries the cache's sequence from before its read,
/// and is refused when since then the order left for a final state (a tombstone), the cache was
/// emptied, or a generation was dropped; an entry with a newer version is never replaced. So the
/// orders customers poll stay in memory whatever the queue's length.
///
/// Eviction keeps what is used: two generations, each up to `generationSize` entries. New and
/// changed states go into the current one; a poll that finds its order only in the previous one
/// moves it to the current one (under the same lock as the writer's updates, so it can never
/// overwrite a newer state). When the current generation is full it becomes the previous one and
/// the old previous one is dropped. Before this, a full cache was emptied at once: with 234,000
/// live orders, polls of 10,000 of them fell from 50,900 to 18,100/s.
///
/// The generations are kept in shards (64 at the default size, by the ticket's last characters),
/// each with its own two dictionaries of `generationSize / shards` entries. A dictionary grows by
/// copying itself whole into one twice its size, under the lock, on the writer's thread: one
/// dictionary of 196,000 orders stalled every request for milliseconds at each doubling, and
/// intake's p99 followed (issue 16). A shard's doubling moves 1/64 of that.
final class TicketCache: Sendable {
    static let defaultGenerationSize = 262_144
    /// Tombstones kept (tickets that turned final) before they are forgotten all at once.
    static let tombstoneLimit = 65_536
    /// Entries per shard and generation, at least (small caches, as in tests, have one shard).
    static let minimumShardSize = 4_096
    static let maximumShards = 64

    private struct Shard {
        var current: [String: Order] = [:]
        var previous: [String: Order] = [:]
    }

    private struct Generations {
        var shards: [Shard]
        /// Entries per shard's generation.
        let size: Int
        /// Moves on with every change the cache is told of.
        var sequence: UInt64 = 1
        /// Tickets that turned final, with the sequence at which they did.
        var tombstones: [String: UInt64] = [:]
        /// Fills whose read began before this are refused: what they could miss is forgotten
        /// (a generation dropped, the cache emptied, tombstones pruned).
        var refuseFillsBefore: UInt64 = 0

        init(generationSize: Int) {
            let count = max(1, min(TicketCache.maximumShards, generationSize / TicketCache.minimumShardSize))
            shards = Array(repeating: Shard(), count: count)
            size = max(1, generationSize / count)
        }

        /// The shard of `ticket`: a hash of its last four bytes (random in every ticket id).
        func shard(_ ticket: String) -> Int {
            guard shards.count > 1 else { return 0 }
            var hash: UInt32 = 2_166_136_261
            for byte in ticket.utf8.suffix(4) { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            return Int(hash % UInt32(shards.count))
        }

        mutating func store(_ order: Order, in i: Int) {
            shards[i].current[order.ticket] = order
            if shards[i].current.count >= size {
                shards[i].previous = shards[i].current
                shards[i].current = [:]
                shards[i].current.reserveCapacity(size)
                forgetBeforeNow()
            }
        }

        func cached(_ ticket: String) -> Order? {
            let i = shard(ticket)
            return shards[i].current[ticket] ?? shards[i].previous[ticket]
        }

        /// Something was forgotten: fills of reads that began before now are refused.
        mutating func forgetBeforeNow() {
            sequence &+= 1
            refuseFillsBefore = sequence
        }
    }

    private let generations: Mutex<Generations>

    init(generationSize: Int = defaultGenerationSize) {
        generations = Mutex(Generations(generationSize: max(1, generationSize)))
    }

    /// The cached state of `ticket`, if any.
    func order(ticket: String) -> Order? {
        generations.withLock { g in
            let i = g.shard(ticket)
            if let order = g.shards[i].current[ticket] { return order }
            guard let order = g.shards[i].previous.removeValue(forKey: ticket) else { return nil }
            g.store(order, in: i)
            return order
        }
    }

    /// Take before reading an order from the database, to `fill` the cache with it afterwards.
    var fillToken: UInt64 { generations.withLock { $0.sequence } }

    /// Puts `order`, read from the database after `token` was taken, into the cache if it is live
    /// and nothing it could be older than was missed (see the type's description).
    func fill(_ order: Order, readAfter token: UInt64) {
        guard !order.status.isFinal else { return }
        generations.withLock { g in
            guard token >= g.refuseFillsBefore else { return }
            if let dead = g.tombstones[order.ticket], dead >= token { return }
            if let held = g.cached(order.ticket), held.version >= order.version { return }
            let i = g.shard(order.ticket)
            g.shards[i].previous.removeValue(forKey: order.ticket)
            g.store(order, in: i)
        }
    }

    /// Applies committed changes, in commit order.
    func apply(_ changes: [Order]) {
        guard !changes.isEmpty else { return }
        generations.withLock { g in
            g.sequence &+= 1
            for order in changes {
                let i = g.shard(order.ticket)
                if !g.shards[i].previous.isEmpty { g.shards[i].previous.removeValue(forKey: order.ticket) }
                if order.status.isFinal {
                    g.shards[i].current.removeValue(forKey: order.ticket)
                    g.tombstones[order.ticket] = g.sequence
                } else {
                    g.store(order, in: i)
                }
            }
            if g.tombstones.count > Self.tombstoneLimit {
                g.tombstones.removeAll(keepingCapacity: true)
                g.forgetBeforeNow()
            }
        }
    }

    /// Forgets everything (another process wrote to the database).
    func removeAll() {
        generations.withLock { g in
            for i in g.shards.indices {
                g.shards[i].current.removeAll()
                g.shards[i].previous.removeAll()
            }
            g.tombstones.removeAll()
            g.forgetBeforeNow()
        }
    }

    var count: Int {
        generations.withLock { g in g.shards.reduce(0) { $0 + $1.current.count + $1.previous.count } }
    }
}
