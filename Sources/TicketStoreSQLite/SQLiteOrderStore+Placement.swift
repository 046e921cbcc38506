import GRDB
import TicketCore
import TicketStore

extension SQLiteOrderStore {
    /// Places an order: allocates its ticket number and id, writes the order, its first event
    /// and the idempotency key (with the first answer, rendered by `TicketBody`) in the next
    /// batch. Returns once committed.
    ///
    /// Throws `queueFull`, `numbersExhausted`, `idempotencyKeyReused`, or `unavailable`.
    public func place(_ new: NewOrder, idempotency: IdempotencyKey?, answer: PlacementAnswer) async throws -> Placement {
        let settings = self.settings
        let now = self.now()
        let ticket = TicketID.generateTicket(at: now)
        return try await writer.write { db, effects in
            try self.place(db, new, ticket: ticket, idempotency: idempotency, answer: answer,
                           settings: settings, now: now, effects: &effects)
        }
    }

    func place(_ db: Database, _ new: NewOrder, ticket: String, idempotency: IdempotencyKey?, answer: PlacementAnswer,
               settings: StoreSettings, now: Timestamp, effects: inout WriteEffects) throws -> Placement {
        if let idempotency,
           let row = try Row.fetchOne(db.cachedStatement(sql: SQL.findIdempotencyKey), arguments: [idempotency.key]) {
            let hash: String = row[0]
            let orderID: Int64 = row[1]
            let code: Int = row[2]
            let response: String = row[3]
            guard hash == idempotency.requestHash else { throw StoreError.idempotencyKeyReused }
            guard let order = try Self.fetchOrder(db, id: orderID) else { throw StoreError.notFound }
            return Placement(order: order, position: 0, replayed: true, statusCode: code, response: Array(response.utf8))
        }

        let batch = writer.currentBatch
        let (placedNormal, placedRush, lastInBatch) = writerCache.withBatch(batch) { c in
            (c.placedNormal, c.placedRush, c.lastNumber)
        }
        let queuedRush = queue.rushCount + placedRush
        let queued = queue.count + placedNormal + placedRush
        guard queued < settings.maxQueued else { throw StoreError.queueFull }

        // The counter row is read once per batch and written once, before the batch commits.
        let last = try lastInBatch ?? Int.fetchOne(db.cachedStatement(sql: SQL.lastNumber)) ?? 0
        let numbering = TicketNumbering(maxNumber: settings.maxNumber)
        let liveCheck = try DirectStatement(db, sql: SQL.numberIsLive)
        // No live order holds a number above the highest live one: until the numbers wrap, the
        // next number needs no look at the index.
        let highestLive = try writerCache.highestLiveNumber(db, batch: batch)
        guard let number = try numbering.next(after: last, isLive: { n in
            n <= highestLive ? try liveCheck.step(db) { $0.bind(n) } : false
        }) else {
            throw StoreError.numbersExhausted
        }

        let stamp = now.rfc3339
        try DirectStatement(db, sql: SQL.insertOrder).step(db) { p in
            p.bind(ticket); p.bind(number); p.bind(new.priority.rawValue); p.bind(OrderRow.encodeItems(new.items))
            p.bind(new.customer); p.bind(new.note); p.bind(settings.retry.maxAttempts); p.bind(new.cookSeconds)
            p.bind(stamp); p.bind(stamp)
        }
        // Every column is known here: no RETURNING row to decode.
        let order = Order(id: db.lastInsertedRowID, ticket: ticket, number: number, status: .queued,
                          priority: new.priority, items: new.items, customer: new.customer, note: new.note,
                          version: 1, attempts: 0, maxAttempts: settings.retry.maxAttempts, lastError: nil,
                          leaseOwner: nil, leaseExpiresAt: nil, cookSeconds: new.cookSeconds, availableAt: now,
                          createdAt: now, cookingAt: nil, readyAt: nil, finishedAt: nil)
        try DirectStatement(db, sql: SQL.insertEvent).step(db) { p in
            p.bind(order.id); p.bind(nil as String?); p.bind("queued"); p.bind(stamp); p.bind("placed")
        }

        // Every queued order is claimed before a new normal one; only queued rush orders are
        // claimed before a new rush one. (Claims earlier in this batch are not counted off:
        // the figure errs high by at most a batch.)
        let position = new.priority == .rush ? queuedRush : queued
        var response: [UInt8]?
        if let idempotency {
            let body = answer.body(order, position: position)
            response = body
            try db.cachedStatement(sql: SQL.insertIdempotencyKey).execute(arguments: [
                idempotency.key, idempotency.requestHash, order.id, answer.statusCode, String(decoding: body, as: UTF8.self), stamp,
            ])
        }
        // Kept only once every row is written: a placement that fails gives its number back.
        let rush = new.priority == .rush
        writerCache.withBatch(batch) { c in
            if rush { c.placedRush += 1 } else { c.placedNormal += 1 }
            c.lastNumber = number
            if let highest = c.highestLive { c.highestLive = max(highest, number) }
        }
        effects.changes.append(order)
        effects.workAdded = true
        return Placement(order: order, position: position, replayed: false, statusCode: answer.statusCode, response: response)
    }
}
