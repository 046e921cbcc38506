import Logging
import PostgresNIO
import TicketCore
import TicketStore

/// Between nodes: what this node's batches tell the others, and what it does with theirs.
extension PostgresOrderStore {
    /// The notification of a committed batch: nil when it changed nothing and queued nothing.
    static func notice(_ effects: WriteEffects, sender: String) -> String? {
        guard !effects.changes.isEmpty || effects.workAdded else { return nil }
        return ChangeNotice(sender: sender, workAdded: effects.workAdded,
                            entries: effects.changes.map(ChangeNotice.entry)).payload
    }

    /// Another node's commit: the queue index and the listeners to every commit (the board, the
    /// kitchen display, the console's activity) follow it from the notification alone; the
    /// orders someone waits on here are re-read and published to their long polls and streams;
    /// idle cooks wake when it queued work.
    func received(_ payload: String) async {
        guard let notice = ChangeNotice(payload: payload) else {
            logger.warning("a notification that is not ticketd's on its channel; catching up", metadata: ["payload": "\(payload.prefix(80))"])
            await catchUp()
            return
        }
        if notice.sender == instance { return }
        guard let entries = notice.entries else {
            await catchUp()
            return
        }
        queue.apply(entries)
        let ids = entries.compactMap { e -> Int64? in
            guard let ticket = ticketsByID.ticket(e.id), changes.isWatched(ticket: ticket) else { return nil }
            return e.id
        }
        var watched: [Order] = []
        if !ids.isEmpty {
            noticeReads.add(1, ordering: .relaxed)
            do {
                watched = try await pool.all(OrdersByID(ids: ids))
            } catch {
                needsCatchUp.store(true, ordering: .relaxed)
                logger.warning("could not read what another node changed; the next sweep catches up",
                               metadata: ["error": "\(PostgresErrors.describe(error))"])
            }
        }
        changes.publish(watched: watched, committed: entries.map(\.change), workAdded: notice.workAdded)
    }

    /// After a gap in the notifications (the LISTEN session re-established, a reload marker, a
    /// failed re-read): rebuild the queue index from the table, re-read every ticket someone
    /// waits on here and publish it, and wake the cooks. Waiters whose ticket did not change stay
    /// waiting (a waiter is released only by a newer version).
    func catchUp() async {
        do {
            let logger = self.logger
            queue.beginRebuild()
            let queued = try await pool.withConnection { try await Self.readQueue($0, logger: logger) }
            queue.finishRebuild(queued)
            let watched = changes.watchedTickets
            var start = 0
            while start < watched.count {
                let chunk = Array(watched[start..<min(watched.count, start + 1000)])
                start += chunk.count
                var binds = PostgresBindings()
                binds.append(chunk)
                let orders = try await pool.orders(PostgresQuery(unsafeSQL: PostgresSQL.ordersByTicket, binds: binds))
                changes.publish(changes: orders, workAdded: false)
            }
            needsCatchUp.store(false, ordering: .relaxed)
        } catch {
            needsCatchUp.store(true, ordering: .relaxed)
            logger.warning("catching up after a gap in notifications failed; the next sweep tries again",
                           metadata: ["error": "\(PostgresErrors.describe(error))"])
        }
        changes.signalWork()
    }
}
