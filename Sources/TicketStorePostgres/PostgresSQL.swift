import TicketCore

/// The PostgreSQL store's fixed SQL, by name. Statements that change an order guard the status
/// (and lease) they expect: a row found in another state changes nothing. Every statement that
/// writes a time takes it from `ticketd_now($1)`: the database's clock, or the test clock's time
/// when one is injected.
enum PostgresSQL {
    static let liveStatuses = OrderStatus.live.map { "'\($0.rawValue)'" }.joined(separator: ",")
    static let finalStatuses = OrderStatus.allCases.filter(\.isFinal).map { "'\($0.rawValue)'" }.joined(separator: ",")
    static let columns = OrderRecord.columns

    static let orderByTicket = "SELECT \(columns) FROM orders WHERE ticket = $1"
    static let orderByID = "SELECT \(columns) FROM orders WHERE id = $1"
    static let ordersByID = "SELECT \(columns) FROM orders WHERE id = ANY($1::bigint[]) ORDER BY id"
    static let ordersByTicket = "SELECT \(columns) FROM orders WHERE ticket = ANY($1::text[])"
    static let eventsOfOrder = "SELECT \(OrderRecord.eventColumns) FROM order_events WHERE order_id = $1 ORDER BY id"
    static let listByStatus = "SELECT \(columns) FROM orders WHERE status = $1 AND id > $2 ORDER BY id LIMIT $3"
    static let listAll = "SELECT \(columns) FROM orders WHERE id > $1 ORDER BY id LIMIT $2"
    static let board = "SELECT number, status FROM orders WHERE status IN (\(liveStatuses)) ORDER BY number"
    /// The board's lowest numbers per column, on the live-number index, up to a limit ($1).
    static let boardPreparing = "SELECT number FROM orders WHERE status IN (\(liveStatuses)) AND status <> 'ready' ORDER BY number LIMIT $1"
    static let boardReady = "SELECT number FROM orders WHERE status = 'ready' ORDER BY number LIMIT $1"
    static let countStatus = "SELECT count(*) FROM orders WHERE status = $1"
    static let liveCounts = "SELECT status, count(*) FROM orders WHERE status IN (\(liveStatuses)) GROUP BY status"
    static let queued = "SELECT id, priority, version FROM orders WHERE status = 'queued'"
    static let queuedCount = "SELECT count(*) FROM orders WHERE status = 'queued'"
    /// The position counted on the `orders_queue` partial index (the contract suite holds the
    /// in-memory queue index against it; the benchmark measures both).
    static let position = """
        SELECT (SELECT count(*) FROM orders WHERE status = 'queued' AND priority > $1)
             + (SELECT count(*) FROM orders WHERE status = 'queued' AND priority = $1 AND id < $2)
        """
    /// Milliseconds until the earliest queued order becomes claimable (≤ 0: now), NULL when none.
    static let untilNextAvailable = """
        SELECT ticketd_ms(min(available_at)) - ticketd_ms(ticketd_now($1)) FROM orders WHERE status = 'queued'
        """
    static let anyClaimable = """
        SELECT EXISTS (SELECT 1 FROM orders WHERE status = 'queued' AND available_at <= ticketd_now($1))
        """
    static let leaseState = """
        SELECT \(columns), lease_token = $2 AND lease_expires_at >= ticketd_now($1)
          FROM orders WHERE id = $3 AND status = 'cooking'
        """
    static let orderExists = "SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1)"

    // Placement
    /// Takes the next free number after the last one given (`ticket_numbers`, any node's), or
    /// $10 when the placement runs again with the number its first run took; inserts the order
    /// and its first event: one statement. No row: every number is live.
    static let place = """
        WITH clock AS MATERIALIZED (SELECT ticketd_now($1) AS now),
             taken AS MATERIALIZED (
                SELECT COALESCE($10::bigint::integer, (ticketd_take_numbers($2::integer, 1))[1]) AS number),
             placed AS (
                INSERT INTO orders (ticket, number, status, priority, items, customer, note, version, attempts,
                                    max_attempts, cook_seconds, available_at, created_at)
                SELECT $3, taken.number, 'queued', $4, $5::json, $6, $7, 1, 0, $8, $9, clock.now, clock.now
                  FROM taken, clock WHERE taken.number IS NOT NULL
                RETURNING id, number, created_at),
             event AS (
                INSERT INTO order_events (order_id, from_status, to_status, at, detail)
                SELECT id, NULL, 'queued', created_at, 'placed' FROM placed)
        SELECT id, number, ticketd_ms(created_at) FROM placed
        """
    /// Several placements in one statement (`placeTogether`): $3 is a JSON array of the orders
    /// (`n` their place in it), $4 how many; numbers for them in their order, from the last one
    /// given (`ticketd_take_numbers`). Orders past the free numbers are not inserted: the caller
    /// sees the first rows only.
    static let placeMany = """
        WITH clock AS MATERIALIZED (SELECT ticketd_now($1) AS now),
             input AS MATERIALIZED (
                SELECT * FROM json_to_recordset($3::json)
                    AS i(n integer, ticket text, priority text, items json, customer text, note text,
                         cook_seconds double precision)),
             taken AS MATERIALIZED (
                SELECT t.n::integer AS n, t.number
                  FROM unnest(ticketd_take_numbers($2::integer, $4::integer)) WITH ORDINALITY AS t(number, n)),
             placed AS (
                INSERT INTO orders (ticket, number, status, priority, items, customer, note, version, attempts,
                                    max_attempts, cook_seconds, available_at, created_at)
                SELECT i.ticket, t.number, 'queued', i.priority, i.items, i.customer, i.note, 1, 0, $5,
                       i.cook_seconds, clock.now, clock.now
                  FROM input i JOIN taken t ON t.n = i.n, clock
                 WHERE t.number IS NOT NULL
                 ORDER BY i.n
                RETURNING id, ticket, number, created_at),
             event AS (
                INSERT INTO order_events (order_id, from_status, to_status, at, detail)
                SELECT id, NULL, 'queued', created_at, 'placed' FROM placed ORDER BY id)
        SELECT id, ticket, number, ticketd_ms(created_at) FROM placed
        """
    static let findIdempotencyKey = "SELECT request_hash, order_id, status_code, response FROM idempotency_keys WHERE key = $1"
    /// Inserts the key with the first answer; no row back: another node took the key meanwhile.
    static let insertIdempotencyKey = """
        INSERT INTO idempotency_keys (key, request_hash, order_id, status_code, response, created_at)
        VALUES ($1, $2, $3, $4, $5, ticketd_time($6))
        ON CONFLICT (key) DO NOTHING RETURNING 1
        """

    // Kitchen
    static let renewLease = """
        WITH clock AS MATERIALIZED (SELECT ticketd_now($1) AS now)
        UPDATE orders o SET lease_expires_at = clock.now + $2 * interval '1 millisecond' FROM clock
         WHERE o.id = $3 AND o.status = 'cooking' AND o.lease_token = $4 AND o.lease_expires_at >= clock.now
        RETURNING ticketd_ms(o.lease_expires_at)
        """

    // Maintenance
    static let expiredLeases = """
        SELECT \(columns) FROM orders
         WHERE status = 'cooking' AND lease_expires_at < ticketd_now($1)
         ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
        """
    static let cookingOfNode = "SELECT \(columns) FROM orders WHERE status = 'cooking' AND lease_node = $1 ORDER BY id FOR UPDATE"
    static let uncollected = """
        SELECT \(columns) FROM orders
         WHERE status = 'ready' AND ready_at < ticketd_now($1) - $2 * interval '1 millisecond'
         ORDER BY ready_at LIMIT $3 FOR UPDATE SKIP LOCKED
        """
    static let pruneFinished = """
        DELETE FROM orders WHERE id IN (
            SELECT id FROM orders
             WHERE finished_at IS NOT NULL AND finished_at < ticketd_time($1) AND status IN (\(finalStatuses))
             ORDER BY finished_at LIMIT $2)
        RETURNING id
        """
}
