import PostgresNIO
import TicketCore
import TicketStore

extension PostgresOrderStore {
    /// Places an order in one savepoint of this node's next batch: the number (the next free one
    /// after the last given, whichever node gave it), the order and its first event in one
    /// statement, then the Idempotency-Key with the first answer. Returns once committed.
    ///
    /// A key already stored (by any node) replays its first answer; one that another node stores
    /// between the look-up and the insert makes the insert wait for that node's commit and find
    /// the key taken: the savepoint is rolled back and the placement runs again as a replay.
    /// Throws `queueFull`, `numbersExhausted`, `idempotencyKeyReused`, or `unavailable`.
    public func place(_ new: NewOrder, idempotency: IdempotencyKey?, answer: PlacementAnswer) async throws -> Placement {
        let settings = self.settings
        let ticket = TicketID.generateTicket(at: now())
        let placement = try await writer.write { connection, effects in
            try await self.place(connection, new, ticket: ticket, idempotency: idempotency, answer: answer,
                                 settings: settings, effects: &effects)
        }
        ticketsByID.record(placement.order)
        return placement
    }

    func place(_ connection: PostgresConnection, _ new: NewOrder, ticket: String, idempotency: IdempotencyKey?,
               answer: PlacementAnswer, settings: StoreSettings, effects: inout WriteEffects) async throws -> Placement {
        if let idempotency, let replay = try await storedAnswer(connection, idempotency) {
            return replay
        }
        let placed = placedInBatch()
        let queuedRush = queue.rushCount + placed.rush
        let queued = queue.count + placed.normal + placed.rush
        guard queued < settings.maxQueued else { throw StoreError.queueFull }

        let items = OrderItemsJSON.encodeItems(new.items)
        var binds = PostgresBindings()
        binds.append(injectedNow)
        binds.append(settings.maxNumber)
        binds.append(ticket)
        binds.append(new.priority.rawValue)
        binds.append(items)
        binds.append(new.customer)
        binds.append(new.note)
        binds.append(settings.retry.maxAttempts)
        binds.append(new.cookSeconds)
        let rows = try await connection.all(PlaceOrder(binds: binds), logger: logger)
        guard let (id, number, createdMS) = rows.first else { throw StoreError.numbersExhausted }
        let createdAt = Timestamp(milliseconds: createdMS)
        let order = Order(id: id, ticket: ticket, number: number, status: .queued, priority: new.priority, items: new.items,
                          customer: new.customer, note: new.note, version: 1, attempts: 0,
                          maxAttempts: settings.retry.maxAttempts, lastError: nil, leaseOwner: nil, leaseExpiresAt: nil,
                          cookSeconds: new.cookSeconds, availableAt: createdAt, createdAt: createdAt, cookingAt: nil,
                          readyAt: nil, finishedAt: nil)
        // Every queued order is claimed before a new normal one; only queued rush orders before a
        // new rush one. (Claims earlier in this batch are not counted off: it errs high by at most
        // a batch.)
        let position = new.priority == .rush ? queuedRush : queued
        var response: [UInt8]?
        if let idempotency {
            let body = answer.body(order, position: position)
            response = body
            let stored = try await connection.rows("""
                INSERT INTO idempotency_keys (key, request_hash, order_id, status_code, response, created_at)
                VALUES (\(idempotency.key), \(idempotency.requestHash), \(id), \(answer.statusCode),
                        \(String(decoding: body, as: UTF8.self)), ticketd_time(\(createdMS)))
                ON CONFLICT (key) DO NOTHING RETURNING true
                """, logger: logger) { try $0.decode(Bool.self) }
            if stored.isEmpty { throw RunAgain() }
        }
        countPlacedInBatch(new.priority)
        effects.changes.append(order)
        effects.workAdded = true
        return Placement(order: order, position: position, replayed: false, statusCode: answer.statusCode, response: response)
    }

    /// The first answer stored with `idempotency.key`, if any: the same request replays it; another
    /// throws `idempotencyKeyReused`.
    func storedAnswer(_ connection: PostgresConnection, _ idempotency: IdempotencyKey) async throws -> Placement? {
        let rows = try await connection.rows(
            "SELECT request_hash, order_id, status_code, response FROM idempotency_keys WHERE key = \(idempotency.key)",
            logger: logger) { try $0.decode((String, Int64, Int, String).self) }
        guard let (hash, orderID, code, response) = rows.first else { return nil }
        guard hash == idempotency.requestHash else { throw StoreError.idempotencyKeyReused }
        guard let order = try await fetchOrder(connection, id: orderID) else { throw StoreError.notFound }
        return Placement(order: order, position: 0, replayed: true, statusCode: code, response: Array(response.utf8))
    }
}
