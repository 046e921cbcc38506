import TicketCore
import TicketStore

/// Every SQL statement of the store, by name. Statements that change an order guard the
/// status (and lease) they expect: a row found in another state changes nothing. Lists of
/// statuses are built from `OrderStatus` (a test holds the schema's CHECK lists and partial
/// indexes, frozen in migrations, against it).
enum SQL {
    /// The statuses that hold a ticket number (`status = 'queued' OR status = 'cooking' OR
    /// status = 'ready'`): the condition of the `orders_live_number` partial index, word for word
    /// (migration 0002), so that SQLite sees that the index applies to a query that names it.
    /// (`status IN (…)` of three or more constants builds a temporary b-tree on every run of a
    /// statement.)
    static let isLive = OrderStatus.live.map { "status = '\($0.rawValue)'" }.joined(separator: " OR ")
    /// The final statuses, quoted and comma-separated.
    static let finalStatuses = OrderStatus.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")

    static let orderByTicket = "SELECT \(OrderRow.columns) FROM orders WHERE ticket = ?"
    static let orderByID = "SELECT \(OrderRow.columns) FROM orders WHERE id = ?"
    static let eventsOfOrder = "SELECT from_status, to_status, at, detail FROM order_events WHERE order_id = ? ORDER BY id"
    /// The statuses past the queue (`status = 'cooking' OR …`): the condition of the
    /// `orders_past_queue` index, word for word (migration 0003). Queued orders are not in it:
    /// a placement and a claim write one index entry less.
    static let isPastQueue = OrderStatus.allCases.filter { $0 != .queued }.map { "status = '\($0.rawValue)'" }
        .joined(separator: " OR ")
    /// The orders of one status past the queue in id order, after an id, on `orders_past_queue`
    /// (the status written into the statement, so that SQLite sees the partial index applies).
    static func listPastQueue(_ status: OrderStatus) -> String {
        "SELECT \(OrderRow.columns) FROM orders INDEXED BY orders_past_queue WHERE status = '\(status.rawValue)' AND id > ? ORDER BY id LIMIT ?"
    }
    /// Queued orders of one priority in id order, after an id: one range of `orders_queue`.
    /// The list of queued orders merges the two priorities' ranges.
    static let listQueuedOfPriority = """
        SELECT \(OrderRow.columns) FROM orders INDEXED BY orders_queue
         WHERE status = 'queued' AND priority = ? AND id > ? ORDER BY id LIMIT ?
        """
    static let listAll = "SELECT \(OrderRow.columns) FROM orders WHERE id > ? ORDER BY id LIMIT ?"
    static let board = "SELECT number, status FROM orders INDEXED BY orders_live_number WHERE \(isLive) ORDER BY number"
    /// Orders of one status, counted on `orders_queue` or `orders_past_queue`.
    static func count(_ status: OrderStatus) -> String {
        "SELECT count(*) FROM orders INDEXED BY \(status == .queued ? "orders_queue" : "orders_past_queue") WHERE status = '\(status.rawValue)'"
    }
    /// The lowest preparing numbers: the live-number index in order, stopping at the limit. (The
    /// index's own condition is repeated, so that SQLite sees the partial index applies.)
    static let boardPreparing = "SELECT number FROM orders INDEXED BY orders_live_number WHERE (\(isLive)) AND status <> 'ready' ORDER BY number LIMIT ?"
    /// The lowest ready numbers, from the ready orders' partial index.
    static let boardReady = "SELECT number FROM orders INDEXED BY orders_ready WHERE status = 'ready' ORDER BY number LIMIT ?"
    /// The position counted in SQL: what the in-memory `QueueIndex` answers without counting
    /// (tests hold the two against each other). Both halves run on the `orders_queue` partial index: rush ahead of this order's
    /// priority, then same priority and older.
    static let position = """
        SELECT (SELECT count(*) FROM orders WHERE status = 'queued' AND priority > ?1)
             + (SELECT count(*) FROM orders WHERE status = 'queued' AND priority = ?2 AND id < ?3)
        """
    static let nextAvailable = "SELECT min(available_at) FROM orders WHERE status = 'queued'"
    static let anyClaimable = "SELECT 1 FROM orders WHERE status = 'queued' AND available_at <= ? LIMIT 1"

    // Placement
    static let lastNumber = "SELECT last_number FROM ticket_counter WHERE id = 1"
    static let setLastNumber = "UPDATE ticket_counter SET last_number = ? WHERE id = 1"
    static let numberIsLive = "SELECT 1 FROM orders INDEXED BY orders_live_number WHERE number = ? AND (\(isLive))"
    /// The highest number a live order holds: the last entry of `orders_live_number`.
    static let highestLiveNumber = "SELECT number FROM orders INDEXED BY orders_live_number WHERE \(isLive) ORDER BY number DESC LIMIT 1"
    static let insertOrder = """
        INSERT INTO orders (ticket, number, status, priority, items, customer, note, version, attempts,
                            max_attempts, cook_seconds, available_at, created_at)
        VALUES (?, ?, 'queued', ?, ?, ?, ?, 1, 0, ?, ?, ?, ?)
        """
    static let insertEvent = "INSERT INTO order_events (order_id, from_status, to_status, at, detail) VALUES (?, ?, ?, ?, ?)"
    static let findIdempotencyKey = "SELECT request_hash, order_id, status_code, response FROM idempotency_keys WHERE key = ?"
    static let insertIdempotencyKey = "INSERT INTO idempotency_keys (key, request_hash, order_id, status_code, response, created_at) VALUES (?, ?, ?, ?, ?, ?)"

    // Kitchen
    /// The next claimable orders in claim order (rush first, then oldest), on the `orders_queue`
    /// partial index. The writer reads them and claims each with `claim` in the same
    /// transaction; no other writer can come between the two.
    static let claimable = """
        SELECT \(OrderRow.columns) FROM orders
         WHERE status = 'queued' AND available_at <= ?1
         ORDER BY priority DESC, id LIMIT ?2
        """
    /// Claims the orders read by `claimable` (the last argument: their ids as a JSON array) in
    /// one statement; `sets` is the lifecycle's claim written by `SQLiteOrderStore.update`, whose
    /// lease token is the claim's random token, a dot and each order's id. No RETURNING: SQLite
    /// runs RETURNING as a trigger, which turns the update two-pass and journals every page it
    /// touches; the claimed rows are known without reading them back. `NOT INDEXED`: the rows are
    /// found by id (rowid); left to itself SQLite took `orders_queue` for `status = 'queued'` and
    /// read every queued order for each claim (13 claims a second with 200,000 queued).
    static func claim(sets: String) -> String {
        "UPDATE orders NOT INDEXED SET \(sets) WHERE id IN (SELECT value FROM json_each(?)) AND status = 'queued'"
    }
    /// Makes the cooking orders of ?N (a JSON array of ids; the arguments of `sets` come first)
    /// ready when each still holds its lease `token.id`, by id as `claim` does.
    static func markReadyMany(sets: String) -> String {
        "UPDATE orders NOT INDEXED SET \(sets) WHERE id IN (SELECT value FROM json_each(?)) AND status = 'cooking'"
            + " AND lease_token = ? || '.' || id AND lease_expires_at >= ?"
    }
    /// The claim's events, one statement for all of them (?1: the ids as a JSON array), each
    /// naming the cook its row was leased to.
    static let claimEvents = """
        INSERT INTO order_events (order_id, from_status, to_status, at, detail)
        SELECT id, 'queued', 'cooking', ?2, 'claimed by ' || lease_owner || ' (attempt ' || attempts || ' of ' || max_attempts || ')'
          FROM orders WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id
        """
    /// The ready events of ?1 (a JSON array of ids of cooking orders), each naming its order's
    /// cook: run before the UPDATE that releases the leases.
    static let readyEventsByOwner = """
        INSERT INTO order_events (order_id, from_status, to_status, at, detail)
        SELECT id, 'cooking', 'ready', ?2, 'cooked by ' || COALESCE(lease_owner, 'a cook')
          FROM orders WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY id
        """
    /// One event for each order of ?1 (a JSON array of ids), all of the same change.
    static let eventsOfMany = """
        INSERT INTO order_events (order_id, from_status, to_status, at, detail)
        SELECT value, ?2, ?3, ?4, ?5 FROM json_each(?1)
        """
    static let renewLease = """
        UPDATE orders SET lease_expires_at = ?3
         WHERE id = ?1 AND status = 'cooking' AND lease_token = ?2 AND lease_expires_at >= ?4
        """
    static let leaseHolder = "SELECT lease_token FROM orders WHERE id = ? AND status = 'cooking'"

    // Maintenance. The sweeps name their partial index: left to itself SQLite took the status
    // index (`orders_status_id` before 0003) and read every row of the status, then sorted (every
    // ready order each second; with millions of finished orders, each prune read them all).
    static let expiredLeases = "SELECT \(OrderRow.columns) FROM orders INDEXED BY orders_cooking_lease WHERE status = 'cooking' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?"
    static let allCooking = "SELECT \(OrderRow.columns) FROM orders INDEXED BY orders_past_queue WHERE status = 'cooking' ORDER BY id LIMIT ?"
    static let uncollected = "SELECT \(OrderRow.columns) FROM orders INDEXED BY orders_ready WHERE status = 'ready' AND ready_at < ? ORDER BY ready_at LIMIT ?"
    static let pruneFinished = """
        DELETE FROM orders WHERE id IN (
            SELECT id FROM orders INDEXED BY orders_finished
             WHERE finished_at IS NOT NULL AND finished_at < ?
               AND status IN (\(finalStatuses))
             LIMIT ?)
        """
}
