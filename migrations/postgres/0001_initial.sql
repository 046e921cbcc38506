-- ticketd schema for PostgreSQL, version 1. Frozen once landed: change the schema in a new
-- numbered file. The same tables, columns, statuses and views as migrations/sqlite/0001_initial.sql,
-- so that every sqlite3 recipe of the operator's guide has a psql twin; times are timestamptz
-- (stored to the millisecond), and the views show them as RFC 3339 UTC text.
-- Applied by ticketd (`ticketd migrate`, or at start) in one transaction, recorded in
-- ticketd_migrations.

-- Times cross the wire as integer milliseconds since the Unix epoch: exact both ways (a
-- floating-point Date is not), and the same integers the SQLite store keeps.
CREATE FUNCTION ticketd_time(ms bigint) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN timestamptz 'epoch' + ms * interval '1 millisecond';

CREATE FUNCTION ticketd_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN floor(extract(epoch FROM t) * 1000)::bigint;

-- The time a statement writes: the database's clock (never a node's), to the millisecond. Tests
-- inject a time (the contract suite's clock); production binds NULL.
CREATE FUNCTION ticketd_now(injected_ms bigint) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN date_trunc('milliseconds', COALESCE(ticketd_time(injected_ms), statement_timestamp()));

-- 2026-11-25T07:31:02.120Z, as the SQLite store writes it.
CREATE FUNCTION ticketd_rfc3339(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

CREATE TABLE orders (
    id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket           text    NOT NULL UNIQUE,            -- private ticket id (URL-safe, 144 random bits)
    number           integer NOT NULL CHECK (number >= 1),
    status           text    NOT NULL CHECK (status IN ('queued','cooking','ready','picked_up','cancelled','failed','expired')),
    priority         text    NOT NULL CHECK (priority IN ('normal','rush')),   -- 'rush' > 'normal' as text: ORDER BY priority DESC claims rush first
    items            json    NOT NULL,                                          -- [{"item":"fries","quantity":2}], kept as written
    customer         text,
    note             text,
    version          integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),       -- claims so far, whoever claimed
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    last_error       text,
    lease_token      text,                                                      -- set while cooking
    lease_owner      text,                                                      -- the cook holding the lease
    lease_node       text,                                                      -- the ticketd node of that cook (node_id)
    lease_expires_at timestamptz,
    cook_seconds     double precision NOT NULL DEFAULT 0,                       -- expected cooking time from the menu
    available_at     timestamptz NOT NULL,                                      -- not claimable before (retry backoff)
    created_at       timestamptz NOT NULL,
    cooking_at       timestamptz,
    ready_at         timestamptz,
    finished_at      timestamptz,                                               -- set on a final status
    CHECK ((status = 'cooking') = (lease_token IS NOT NULL))
);

-- Claim order (rush first, then FIFO) and position counting: only queued rows are indexed.
CREATE INDEX orders_queue ON orders (priority DESC, id) WHERE status = 'queued';
-- A number is never shared by two live orders, whatever the code does (and whichever node).
CREATE UNIQUE INDEX orders_live_number ON orders (number) WHERE status IN ('queued','cooking','ready');
-- The rescuer's scan for expired leases.
CREATE INDEX orders_cooking_lease ON orders (lease_expires_at) WHERE status = 'cooking';
-- A node's hand-back at start: the leases its own earlier runs left.
CREATE INDEX orders_cooking_node ON orders (lease_node) WHERE status = 'cooking';
-- The expirer's scan for uncollected ready orders.
CREATE INDEX orders_ready ON orders (ready_at) WHERE status = 'ready';
-- The pruner's scan for old finished orders.
CREATE INDEX orders_finished ON orders (finished_at) WHERE finished_at IS NOT NULL;
-- The operator's listing by status, oldest first.
CREATE INDEX orders_status_id ON orders (status, id);

-- Every transition, with its time. A placement records (NULL -> queued).
CREATE TABLE order_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text CHECK (from_status IN ('queued','cooking','ready','picked_up','cancelled','failed','expired')),
    to_status   text NOT NULL CHECK (to_status IN ('queued','cooking','ready','picked_up','cancelled','failed','expired')),
    at          timestamptz NOT NULL,
    detail      text
);
CREATE INDEX order_events_order ON order_events (order_id, id);

-- The last ticket number handed out (numbers continue from it, wrapping at max_number). Its row
-- lock, taken by a placement, serialises number allocation across nodes for one batch's commit.
CREATE TABLE ticket_counter (
    id          integer PRIMARY KEY CHECK (id = 1),
    last_number integer NOT NULL
);
INSERT INTO ticket_counter (id, last_number) VALUES (1, 0);

-- Takes the next ticket number for a placement: the first number after the last one given
-- (wrapping at `max_number`; from 1 when the last is out of range) that no live order holds, recorded as the last one given; NULL (and
-- nothing changed) when every number is live. The counter's row stays locked until the
-- transaction ends, so numbering is serial across nodes, one batch's commit at a time; a
-- VOLATILE function reads with a fresh snapshot after waiting for that lock, so it sees the
-- numbers the batch before it gave.
CREATE FUNCTION ticketd_take_number(max_number integer) RETURNS integer
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last integer;
    candidate integer;
BEGIN
    SELECT last_number INTO last FROM ticket_counter WHERE id = 1 FOR UPDATE;
    -- As TicketNumbering.candidates: a last number out of range (max_number shrank) starts at 1.
    candidate := CASE WHEN last BETWEEN 1 AND max_number THEN last ELSE 0 END;
    FOR i IN 1..max_number LOOP
        candidate := candidate % max_number + 1;
        IF NOT EXISTS (SELECT 1 FROM orders
                        WHERE number = candidate AND status IN ('queued','cooking','ready')) THEN
            UPDATE ticket_counter SET last_number = candidate WHERE id = 1;
            RETURN candidate;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Idempotency-Key of POST /v1/orders, written in the placement's transaction; pruned with its
-- order. The primary key makes two nodes meet: the second waits for the first's commit, then
-- reads its stored answer.
CREATE TABLE idempotency_keys (
    key          text    PRIMARY KEY,
    request_hash text    NOT NULL,
    order_id     bigint  NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status_code  integer NOT NULL,
    response     text    NOT NULL,                                            -- the body first answered, replayed verbatim
    created_at   timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_order ON idempotency_keys (order_id);

-- What is waiting, in claim order, with position (0 = next) and age in seconds.
CREATE VIEW queue AS
SELECT (row_number() OVER (ORDER BY priority DESC, id) - 1)::integer AS position,
       id, number, priority, items, customer, ticketd_rfc3339(created_at) AS created_at,
       ticketd_rfc3339(available_at) AS available_at, attempts,
       round(extract(epoch FROM clock_timestamp() - created_at)::numeric, 1) AS age_seconds
FROM orders WHERE status = 'queued'
ORDER BY priority DESC, id;

-- What is cooking now: by which cook (on which node), for how long, and how much lease is left.
CREATE VIEW kitchen AS
SELECT id, number, lease_owner AS cook, lease_node AS node, attempts, ticketd_rfc3339(cooking_at) AS cooking_at,
       round(extract(epoch FROM clock_timestamp() - cooking_at)::numeric, 1) AS cooking_seconds,
       round(extract(epoch FROM lease_expires_at - clock_timestamp())::numeric, 1) AS lease_left_seconds
FROM orders WHERE status = 'cooking'
ORDER BY cooking_at;

-- The public board: numbers preparing (queued or cooking) and ready.
CREATE VIEW board AS
SELECT number, CASE status WHEN 'ready' THEN 'ready' ELSE 'preparing' END AS board_status, status, id
FROM orders WHERE status IN ('queued','cooking','ready')
ORDER BY number;

-- Recent failed attempts (retried or final) with their error, newest first.
CREATE VIEW failures AS
SELECT e.order_id, o.number, o.status AS current_status, o.attempts, ticketd_rfc3339(e.at) AS at, e.to_status,
       e.detail AS error
FROM order_events e JOIN orders o ON o.id = e.order_id
WHERE e.from_status = 'cooking' AND e.to_status IN ('queued','failed')
ORDER BY e.id DESC;
