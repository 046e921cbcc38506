import Synchronization
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
        let number = NumberTaken()
        let body: WriteBody<Placement> = { connection, effects in
            try await self.place(connection, new, ticket: ticket, idempotency: idempotency, answer: answer,
                                 settings: settings, number: number, effects: &effects)
        }
        let placement: Placement
        if idempotency == nil {
            // Without a key, the placements next to it in the batch share one statement.
            let input = PlacementInput(new: new, ticket: ticket, answer: answer, settings: settings, number: number)
            placement = try await writer.write(together: Together(input: input) { connection, inputs in
                try await self.placeTogether(connection, inputs)
            }, body)
        } else {
            placement = try await writer.write(body)
        }
        ticketsByID.record(placement.order)
        return placement
    }

    /// Several placements without an Idempotency-Key in one statement (`PostgresSQL.placeMany`):
    /// the same checks and results as `place` one by one, in their order (those past the free
    /// numbers refused alone). Nil (each then runs alone) when their settings differ.
    func placeTogether(_ connection: PostgresConnection,
                       _ inputs: [PlacementInput]) async throws -> [Result<(Placement, WriteEffects), any Error>]? {
        guard let settings = inputs.first?.settings,
              inputs.allSatisfy({ $0.settings.maxNumber == settings.maxNumber
                  && $0.settings.retry.maxAttempts == settings.retry.maxAttempts
                  && $0.settings.maxQueued == settings.maxQueued }) else { return nil }
        // The queue's limit and each order's position, in order, as `place` works them out.
        var ahead = queueAhead()
        var positions: [Int?] = []
        var w = JSONWriter(capacity: 160 * inputs.count)
        w.beginArray()
        var admitted = 0
        for input in inputs {
            let position = ahead.admit(input.new.priority, maxQueued: settings.maxQueued)
            positions.append(position)
            guard position != nil else { continue }
            admitted += 1
            w.element()
            w.beginObject()
            w.key("n"); w.value(admitted)
            w.key("ticket"); w.value(input.ticket)
            w.key("priority"); w.value(input.new.priority.rawValue)
            w.key("items"); w.rawValue(OrderItemsJSON.encodeItems(input.new.items))
            w.key("customer"); w.value(input.new.customer)
            w.key("note"); w.value(input.new.note)
            w.key("cook_seconds"); w.value(input.new.cookSeconds)
            w.endObject()
        }
        w.endArray()
        var rows: [String: (Int64, Int, Int64)] = [:]
        if admitted > 0 {
            var binds = PostgresBindings()
            binds.append(injectedNow)
            binds.append(settings.maxNumber)
            binds.append(String(decoding: w.bytes, as: UTF8.self))
            binds.append(admitted)
            binds.append(settings.retry.maxAttempts)
            for (id, ticket, number, created) in try await connection.all(PlaceOrders(binds: binds), logger: logger) {
                rows[ticket] = (id, number, created)
            }
        }
        var results: [Result<(Placement, WriteEffects), any Error>] = []
        for (input, position) in zip(inputs, positions) {
            guard let position else {
                results.append(.failure(StoreError.queueFull))
                continue
            }
            // Past the free numbers (the statement numbers them in order and stops there).
            guard let (id, number, createdMS) = rows[input.ticket] else {
                results.append(.failure(StoreError.numbersExhausted))
                continue
            }
            input.number.keep(number)
            let order = Self.placedOrder(id: id, ticket: input.ticket, number: number, createdMS: createdMS,
                                         new: input.new, settings: input.settings)
            countPlacedInBatch(input.new.priority)
            var effects = WriteEffects()
            effects.changes.append(order)
            effects.workAdded = true
            results.append(.success((Placement(order: order, position: position, replayed: false,
                                               statusCode: input.answer.statusCode, response: nil), effects)))
        }
        return results
    }

    /// The order a placement wrote, as the row now holds it.
    static func placedOrder(id: Int64, ticket: String, number: Int, createdMS: Int64, new: NewOrder,
                            settings: StoreSettings) -> Order {
        let createdAt = Timestamp(milliseconds: createdMS)
        return Order(id: id, ticket: ticket, number: number, status: .queued, priority: new.priority, items: new.items,
                     customer: new.customer, note: new.note, version: 1, attempts: 0,
                     maxAttempts: settings.retry.maxAttempts, lastError: nil, leaseOwner: nil, leaseExpiresAt: nil,
                     cookSeconds: new.cookSeconds, availableAt: createdAt, createdAt: createdAt, cookingAt: nil,
                     readyAt: nil, finishedAt: nil)
    }

    func place(_ connection: PostgresConnection, _ new: NewOrder, ticket: String, idempotency: IdempotencyKey?,
               answer: PlacementAnswer, settings: StoreSettings, number taken: NumberTaken,
               effects: inout WriteEffects) async throws -> Placement {
        if let idempotency, let replay = try await storedAnswer(connection, idempotency) {
            return replay
        }
        var ahead = queueAhead()
        guard let position = ahead.admit(new.priority, maxQueued: settings.maxQueued) else { throw StoreError.queueFull }

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
        binds.append(taken.number)
        let rows: [(Int64, Int, Int64)]
        do {
            rows = try await connection.all(PlaceOrder(binds: binds), logger: logger)
        } catch where taken.number != nil && PostgresErrors.constraint(error) == "orders_live_number" {
            // The number its first run took went round to a live order meanwhile (the sequence
            // turned once during the batch): a fresh number.
            taken.keep(nil)
            throw RunAgain()
        }
        guard let (id, number, createdMS) = rows.first else { throw StoreError.numbersExhausted }
        taken.keep(number)
        let order = Self.placedOrder(id: id, ticket: ticket, number: number, createdMS: createdMS, new: new,
                                     settings: settings)
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

extension PostgresOrderStore {
    /// The queue ahead of a new order: what this node knows queued, with this batch's earlier
    /// placements counted in.
    func queueAhead() -> QueueAhead {
        let placed = placedInBatch()
        return QueueAhead(queued: queue.count + placed.normal + placed.rush, rush: queue.rushCount + placed.rush)
    }
}

/// Queued orders ahead of the next placement (and the rush ones among them).
struct QueueAhead {
    var queued: Int
    var rush: Int

    /// The position of a new order of `priority`, counted in for the next; nil when the queue
    /// holds `maxQueued` already. Every queued order is claimed before a new normal one, only
    /// queued rush orders before a new rush one. (Claims earlier in the batch are not counted
    /// off: it errs high by at most a batch.)
    mutating func admit(_ priority: OrderPriority, maxQueued: Int) -> Int? {
        guard queued < maxQueued else { return nil }
        let position = priority == .rush ? rush : queued
        queued += 1
        if priority == .rush { rush += 1 }
        return position
    }
}

/// What a placement without an Idempotency-Key needs to share a statement with others.
struct PlacementInput: Sendable {
    let new: NewOrder
    let ticket: String
    let answer: PlacementAnswer
    let settings: StoreSettings
    let number: NumberTaken
}

/// The ticket number a placement's first run took. A number taken from the sequence is not
/// given back when its transaction rolls back; a placement whose batch runs again (a request
/// beside it failed) places its order with the same number, so the numbers given stay without a
/// gap.
final class NumberTaken: Sendable {
    private let taken = Mutex<Int?>(nil)

    var number: Int? { taken.withLock { $0 } }

    func keep(_ number: Int?) { taken.withLock { $0 = number } }
}
