-- ticketd schema, version 1. Frozen once landed: change the schema in a new numbered file.
-- Times are RFC 3339 UTC text with milliseconds (2026-11-25T07:31:02.120Z): fixed width, so
-- text order is time order and sqlite3's date functions read them.

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY,
    ticket           TEXT    NOT NULL UNIQUE,           -- private ticket id (URL-safe, 144 random bits)
    number           INTEGER NOT NULL CHECK (number >= 1),
    status           TEXT    NOT NULL CHECK (status IN ('queued','cooking','ready','picked_up','cancelled','failed','expired')),
    priority         TEXT    NOT NULL CHECK (priority IN ('normal','rush')),  -- 'rush' > 'normal' as text: ORDER BY priority DESC claims rush first
    items            TEXT    NOT NULL CHECK (json_valid(items)),             -- [{"item":"fries","quantity":2}]
    customer         TEXT,
    note             TEXT,
    version          INTEGER NOT NULL DEFAULT 1 CHECK (version >= 1),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),     -- claims so far, whoever claimed
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    last_error       TEXT,
    lease_token      TEXT,                                                  -- set while cooking
    lease_owner      TEXT,                                                  -- the cook holding the lease
    lease_expires_at TEXT,
    cook_seconds     REAL    NOT NULL DEFAULT 0,                            -- expected cooking time from the menu
    available_at     TEXT    NOT NULL,                                      -- not claimable before (retry backoff)
    created_at       TEXT    NOT NULL,
    cooking_at       TEXT,
    ready_at         TEXT,
    finished_at      TEXT,                                                  -- set on a final status
    CHECK ((status = 'cooking') = (lease_token IS NOT NULL))
) STRICT;

-- Claim order (rush first, then FIFO) and position counting: only queued rows are indexed,
-- so millions of finished orders cost nothing here. `status` leads (constant in the index) so
-- that SQLite, which has no statistics, prefers this index over orders_status_id for
-- `status = 'queued'` and needs no sort for the claim's ORDER BY.
CREATE INDEX orders_queue ON orders (status, priority DESC, id) WHERE status = 'queued';
-- A number is never shared by two live orders, whatever the code does.
CREATE UNIQUE INDEX orders_live_number ON orders (number) WHERE status IN ('queued','cooking','ready');
-- The rescuer's scan for expired leases.
CREATE INDEX orders_cooking_lease ON orders (lease_expires_at) WHERE status = 'cooking';
-- The expirer's scan for uncollected ready orders.
CREATE INDEX orders_ready ON orders (ready_at) WHERE status = 'ready';
-- The pruner's scan for old finished orders.
CREATE INDEX orders_finished ON orders (finished_at) WHERE finished_at IS NOT NULL;
-- The operator's listing by status, oldest first.
CREATE INDEX orders_status_id ON orders (status, id);

-- Every transition, with its time. A placement records (NULL -> queued).
CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT CHECK (from_status IN ('queued','cooking','ready','picked_up','cancelled','failed','expired')),
    to_status   TEXT NOT NULL CHECK (to_status IN ('queued','cooking','ready','picked_up','cancelled','failed','expired')),
    at          TEXT NOT NULL,
    detail      TEXT
) STRICT;
CREATE INDEX order_events_order ON order_events (order_id, id);

-- The last ticket number handed out (numbers continue from it, wrapping at max_number).
CREATE TABLE ticket_counter (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    last_number INTEGER NOT NULL
) STRICT;
INSERT INTO ticket_counter (id, last_number) VALUES (1, 0);

-- Idempotency-Key of POST /v1/orders, written in the placement's transaction; pruned with its order.
CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY,
    request_hash TEXT    NOT NULL,
    order_id     INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status_code  INTEGER NOT NULL,
    response     TEXT    NOT NULL,                                          -- the body first answered, replayed verbatim
    created_at   TEXT    NOT NULL
) STRICT;
CREATE INDEX idempotency_keys_order ON idempotency_keys (order_id);

-- What is waiting, in claim order, with position (0 = next) and age in seconds.
CREATE VIEW queue AS
SELECT row_number() OVER (ORDER BY priority DESC, id) - 1 AS position,
       id, number, priority, items, customer, created_at, available_at, attempts,
       round((julianday('now') - julianday(created_at)) * 86400, 1) AS age_seconds
FROM orders WHERE status = 'queued'
ORDER BY priority DESC, id;

-- What is cooking now: by which cook, for how long, and how much lease is left.
CREATE VIEW kitchen AS
SELECT id, number, lease_owner AS cook, attempts, cooking_at,
       round((julianday('now') - julianday(cooking_at)) * 86400, 1) AS cooking_seconds,
       round((julianday(lease_expires_at) - julianday('now')) * 86400, 1) AS lease_left_seconds
FROM orders WHERE status = 'cooking'
ORDER BY cooking_at;

-- The public board: numbers preparing (queued or cooking) and ready.
CREATE VIEW board AS
SELECT number, CASE status WHEN 'ready' THEN 'ready' ELSE 'preparing' END AS board_status, status, id
FROM orders WHERE status IN ('queued','cooking','ready')
ORDER BY number;

-- Recent failed attempts (retried or final) with their error, newest first.
CREATE VIEW failures AS
SELECT e.order_id, o.number, o.status AS current_status, o.attempts, e.at, e.to_status, e.detail AS error
FROM order_events e JOIN orders o ON o.id = e.order_id
WHERE e.from_status = 'cooking' AND e.to_status IN ('queued','failed')
ORDER BY e.id DESC;
