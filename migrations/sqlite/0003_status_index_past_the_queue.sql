-- ticketd schema, version 3: the status index leaves queued orders out. Frozen once landed.
--
-- Why: `orders_status_id` held every order, so every placement wrote an entry into it, and the
-- claim moved it: one more page in the WAL of every commit, for an index that placements and
-- claims never read (issue 16). Queued orders are already in `orders_queue`, by priority and
-- id, and an operator's list of them is read from there: one range of each priority, merged
-- by id. The orders past the queue keep their index by status and id, with the condition
-- written as ORs of equalities, so that a query naming one status sees that it applies.

DROP INDEX orders_status_id;
CREATE INDEX orders_past_queue ON orders (status, id)
    WHERE status = 'cooking' OR status = 'ready' OR status = 'picked_up' OR status = 'cancelled' OR status = 'failed' OR status = 'expired';
