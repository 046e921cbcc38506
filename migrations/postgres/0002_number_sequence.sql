-- Ticket numbers from a sequence instead of the counter row of 0001.
--
-- 0001 handed out numbers by updating the one `ticket_counter` row: its row lock, taken by a
-- placement, was held until the batch committed, so every node's batches took turns through
-- each other's commits, and a batch of 64 placements left 64 versions of that row. Measured on
-- the 2-core benchmark machine: intake on one node 6,279 -> 9,160 orders/s with this sequence,
-- and three nodes together 4,382 -> 6,327 (BENCHMARKS.md).
--
-- The sequence holds the last number given (1..max_number, wrapping: CYCLE), so numbers still
-- run on from the last one given, whichever node gives it, skipping live ones. A number a
-- rolled-back transaction took is not given back; the writer hands a placement that runs again
-- the number its first run took (no gap when a batch is run again one request at a time).

CREATE SEQUENCE ticket_numbers AS integer MINVALUE 1 MAXVALUE 2147483647 CYCLE;
SELECT setval('ticket_numbers', last_number, true) FROM ticket_counter WHERE id = 1 AND last_number > 0;

-- Sets the sequence's range to 1..max_number when it differs (a node's tickets.max_number, at
-- its first placement after start or reload): a last number past a shrunk range starts again at
-- 1, as on SQLite. ALTER SEQUENCE is transactional and locks the sequence until commit; it runs
-- only when the range changes.
CREATE FUNCTION ticketd_number_range(max_number integer) RETURNS void
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    current_max bigint;
    last bigint;
BEGIN
    SELECT seqmax INTO current_max FROM pg_sequence WHERE seqrelid = 'ticket_numbers'::regclass;
    IF current_max = max_number THEN
        RETURN;
    END IF;
    SELECT last_value INTO last FROM ticket_numbers;
    IF last > max_number THEN
        EXECUTE format('ALTER SEQUENCE ticket_numbers MAXVALUE %s RESTART 1', max_number);
    ELSE
        EXECUTE format('ALTER SEQUENCE ticket_numbers MAXVALUE %s', max_number);
    END IF;
END
$$;

-- Up to `wanted` numbers for the placements of one statement, in order: each the next after the
-- last one given that no live order holds and this call has not taken. Fewer (none) when the
-- rest are live: a whole turn of the sequence without a free number, which leaves it where it
-- was, so a refused placement does not move the last number given. Also sets the range first.
CREATE FUNCTION ticketd_take_numbers(max_number integer, wanted integer) RETURNS integer[]
    LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    taken integer[] := '{}';
    candidate integer;
    misses integer := 0;
BEGIN
    PERFORM ticketd_number_range(max_number);
    WHILE cardinality(taken) < wanted AND misses < max_number LOOP
        candidate := nextval('ticket_numbers');
        IF candidate = ANY (taken) OR EXISTS (SELECT 1 FROM orders
                WHERE number = candidate AND status IN ('queued','cooking','ready')) THEN
            misses := misses + 1;
        ELSE
            taken := taken || candidate;
            misses := 0;
        END IF;
    END LOOP;
    RETURN taken;
END
$$;

DROP FUNCTION ticketd_take_number(integer);
DROP TABLE ticket_counter;

-- The last number given, where 0001 kept it (for operators and tests): 0 before the first.
CREATE VIEW ticket_counter AS
SELECT 1 AS id, CASE WHEN is_called THEN last_value ELSE 0 END::integer AS last_number FROM ticket_numbers;
