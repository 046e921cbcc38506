import PostgresNIO
import TicketCore
import TicketStore

/// Reads: on pooled connections, never waiting for the writer.
extension PostgresOrderStore {
    /// The order holding `ticket` with its position while queued (from the queue index). The read
    /// always goes to the database: whichever node answers, a poll sees the latest commit.
    public func ticket(_ ticket: String) async throws -> TicketState? {
        guard let order = try await pool.all(TicketByTicket(ticket: ticket)).first else { return nil }
        ticketsByID.record(order)
        return TicketState(order: order, position: order.status == .queued ? queuedPosition(of: order) : nil)
    }

    public func position(of order: Order) async throws -> Int { queuedPosition(of: order) }

    /// Queued orders claimed before `order` (0 = next), from the in-memory queue index.
    func queuedPosition(of order: Order) -> Int {
        queue.position(id: order.id, priority: order.priority)
    }

    /// The same position counted in SQL over the queued partial index (O(position)): what the
    /// benchmark compares the queue index with.
    public func countedPosition(of order: Order) async throws -> Int {
        var binds = PostgresBindings()
        binds.append(order.priority.rawValue)
        binds.append(order.id)
        return Int(try await pool.scalar(PostgresQuery(unsafeSQL: PostgresSQL.position, binds: binds), as: Int64.self) ?? 0)
    }

    /// Queued orders now, from the queue index.
    public var queuedCount: Int { queue.count }

    public func order(id: Int64) async throws -> Order? {
        try await pool.all(OrderByID(id: id)).first
    }

    public func orderWithEvents(id: Int64) async throws -> (Order, [OrderEventRecord])? {
        let logger = self.logger
        return try await pool.withConnection { connection in
            guard let order = try await self.fetchOrder(connection, id: id) else { return nil }
            let events = try await connection.rows(
                "SELECT \(unescaped: OrderRecord.eventColumns) FROM order_events WHERE order_id = \(id) ORDER BY id",
                logger: logger, OrderRecord.event)
            return (order, events)
        }
    }

    public func listOrders(status: OrderStatus?, limit: Int, after: Int64?) async throws -> [Order] {
        var binds = PostgresBindings()
        if let status {
            binds.append(status.rawValue)
            binds.append(after ?? 0)
            binds.append(limit)
            return try await pool.orders(PostgresQuery(unsafeSQL: PostgresSQL.listByStatus, binds: binds))
        }
        binds.append(after ?? 0)
        binds.append(limit)
        return try await pool.orders(PostgresQuery(unsafeSQL: PostgresSQL.listAll, binds: binds))
    }

    public func board() async throws -> Board {
        let logger = self.logger
        return try await pool.withConnection { connection in
            var board = Board()
            let rows = try await connection.rows(PostgresQuery(unsafeSQL: PostgresSQL.board), logger: logger) {
                try $0.decode((Int, String).self)
            }
            for (number, status) in rows {
                if status == OrderStatus.ready.rawValue { board.ready.append(number) } else { board.preparing.append(number) }
            }
            return board
        }
    }

    /// The board's lowest numbers per column and exact counts without reading every live order
    /// (as the SQLite store's): a column that fits its list is counted by it; a full one from
    /// the queue mirror (queued) and a count of its cooking or ready orders.
    public func boardSummary(limit: Int) async throws -> BoardSummary {
        let logger = self.logger
        let queue = self.queue
        return try await pool.withConnection { connection in
            func numbers(_ sql: String) async throws -> [Int] {
                var binds = PostgresBindings()
                binds.append(limit)
                return try await connection.rows(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) { try $0.decode(Int.self) }
            }
            func count(_ status: OrderStatus) async throws -> Int {
                var binds = PostgresBindings()
                binds.append(status.rawValue)
                return try await connection.scalar(PostgresQuery(unsafeSQL: PostgresSQL.countStatus, binds: binds), as: Int.self,
                                                   logger: logger) ?? 0
            }
            let preparing = try await numbers(PostgresSQL.boardPreparing)
            let ready = try await numbers(PostgresSQL.boardReady)
            let preparingCount = preparing.count < limit ? preparing.count : try await queue.count + count(.cooking)
            let readyCount = ready.count < limit ? ready.count : try await count(.ready)
            return BoardSummary(preparing: preparing, ready: ready, preparingCount: preparingCount, readyCount: readyCount)
        }
    }

    public func liveCounts() async throws -> [OrderStatus: Int] {
        let logger = self.logger
        return try await pool.withConnection { connection in
            var counts: [OrderStatus: Int] = [.queued: 0, .cooking: 0, .ready: 0]
            let rows = try await connection.rows(PostgresQuery(unsafeSQL: PostgresSQL.liveCounts), logger: logger) {
                try $0.decode((String, Int64).self)
            }
            for (status, count) in rows {
                if let s = OrderStatus(rawValue: status) { counts[s] = Int(count) }
            }
            return counts
        }
    }
}
