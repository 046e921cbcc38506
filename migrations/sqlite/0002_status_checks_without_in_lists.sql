-- ticketd schema, version 2: the same rules, written so that SQLite checks them without a
-- temporary b-tree. Frozen once landed.
--
-- Why: SQLite evaluates `x IN (…)` with more than two constants through a temporary b-tree,
-- built anew for every run of a statement. 0001's CHECK constraints on statuses and the
-- condition of the live-number index were such lists, so every placement built four (the order
-- row's status CHECK and index condition, the event row's two CHECKs), and every transition as
-- many: a third of what SQLite spent on a placement (perf and callgrind, issue 16). Written as
-- ORs of equalities they are plain comparisons. SQLite cannot change a table's CHECK
-- constraints, so `orders` and `order_events` are rebuilt (rows, ids, indexes and views kept).
-- The migrator runs this with foreign-key enforcement off and checks every key before it
-- commits.

DROP VIEW queue;
DROP VIEW kitchen;
DROP VIEW board;
DROP VIEW failures;

CREATE TABLE orders_v2 (
    id               INTEGER PRIMARY KEY,
    ticket           TEXT    NOT NULL UNIQUE,           -- private ticket id (URL-safe, 144 random bits)
    number           INTEGER NOT NULL CHECK (number >= 1),
    status           TEXT    NOT NULL CHECK (status = 'queued' OR status = 'cooking' OR status = 'ready' OR status = 'picked_up' OR status = 'cancelled' OR status = 'failed' OR status = 'expired'),
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
INSERT INTO orders_v2 (id, ticket, number, status, priority, items, customer, note, version, attempts, max_attempts,
                       last_error, lease_token, lease_owner, lease_expires_at, cook_seconds, available_at, created_at,
                       cooking_at, ready_at, finished_at)
SELECT id, ticket, number, status, priority, items, customer, note, version, attempts, max_attempts,
       last_error, lease_token, lease_owner, lease_expires_at, cook_seconds, available_at, created_at,
       cooking_at, ready_at, finished_at
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_v2 RENAME TO orders;

-- The indexes of 0001, the live-number one with its condition as ORs (queries that use it
-- repeat that condition word for word, so that SQLite sees the partial index applies).
CREATE INDEX orders_queue ON orders (status, priority DESC, id) WHERE status = 'queued';
CREATE UNIQUE INDEX orders_live_number ON orders (number) WHERE status = 'queued' OR status = 'cooking' OR status = 'ready';
CREATE INDEX orders_cooking_lease ON orders (lease_expires_at) WHERE status = 'cooking';
CREATE INDEX orders_ready ON orders (ready_at) WHERE status = 'ready';
CREATE INDEX orders_finished ON orders (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX orders_status_id ON orders (status, id);

CREATE TABLE order_events_v2 (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status TEXT CHECK (from_status = 'queued' OR from_status = 'cooking' OR from_status = 'ready' OR from_status = 'picked_up' OR from_status = 'cancelled' OR from_status = 'failed' OR from_status = 'expired'),
    to_status   TEXT NOT NULL CHECK (to_status = 'queued' OR to_status = 'cooking' OR to_status = 'ready' OR to_status = 'picked_up' OR to_status = 'cancelled' OR to_status = 'failed' OR to_status = 'expired'),
    at          TEXT NOT NULL,
    detail      TEXT
) STRICT;
INSERT INTO order_events_v2 (id, order_id, from_status, to_status, at, detail)
SELECT id, order_id, from_status, to_status, at, detail FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_v2 RENAME TO order_events;
CREATE INDEX order_events_order ON order_events (order_id, id);

-- The views of 0001, unchanged.
CREATE VIEW queue AS
SELECT row_number() OVER (ORDER BY priority DESC, id) - 1 AS position,
       id, number, priority, items, customer, created_at, available_at, attempts,
       round((julianday('now') - julianday(created_at)) * 86400, 1) AS age_seconds
FROM orders WHERE status = 'queued'
ORDER BY priority DESC, id;

CREATE VIEW kitchen AS
SELECT id, number, lease_owner AS cook, attempts, cooking_at,
       round((julianday('now') - julianday(cooking_at)) * 86400, 1) AS cooking_seconds,
       round((julianday(lease_expires_at) - julianday('now')) * 86400, 1) AS lease_left_seconds
FROM orders WHERE status = 'cooking'
ORDER BY cooking_at;

CREATE VIEW board AS
SELECT number, CASE status WHEN 'ready' THEN 'ready' ELSE 'preparing' END AS board_status, status, id
FROM orders WHERE status IN ('queued','cooking','ready')
ORDER BY number;

CREATE VIEW failures AS
SELECT e.order_id, o.number, o.status AS current_status, o.attempts, e.at, e.to_status, e.detail AS error
FROM order_events e JOIN orders o ON o.id = e.order_id
WHERE e.from_status = 'cooking' AND e.to_status IN ('queued','failed')
ORDER BY e.id DESC;
