import GRDB
import TicketCore
import TicketStore

/// Reads: on reader connections, never waiting for the writer.
extension SQLiteOrderStore {
    /// The order holding `ticket`, or nil.
    public func order(ticket: String) async throws -> Order? {
        try await pool.read { db in try Self.fetchOrder(db, ticket: ticket) }
    }

    /// The order with `id`, or nil.
    public func order(id: Int64) async throws -> Order? {
        try await pool.read { db in try Self.fetchOrder(db, id: id) }
    }

    /// The order holding `ticket` with its position (while queued): from the ticket cache when
    /// it has it, else in one read, which puts a live order into the cache for the next poll.
    public func ticket(_ ticket: String) async throws -> TicketState? {
        if let order = tickets.order(ticket: ticket) {
            return TicketState(order: order, position: order.status == .queued ? queuedPosition(of: order) : nil)
        }
        let token = tickets.fillToken
        return try await pool.read { db in
            guard let order = try Self.fetchOrder(db, ticket: ticket) else { return nil }
            self.tickets.fill(order, readAfter: token)
            return TicketState(order: order, position: order.status == .queued ? self.queuedPosition(of: order) : nil)
        }
    }

    public func position(of order: Order) async throws -> Int { queuedPosition(of: order) }

    /// Puts the live orders already in the database into the ticket cache, so that after a start
    /// the first poll of each answers from memory too (a miss reads the database: about twice
    /// a hit's cost). Ready orders first, then cooking, then queued oldest first; at most one
    /// generation of the cache (it never evicts what it loaded); read in chunks of 1,000 on a
    /// reader, each filled as a poll's miss is (`fill`: refused when the writer may have
    /// committed a newer state meanwhile). Stops early when the task is cancelled; a failed
    /// read only ends it (the misses fill the cache instead).
    func warmTicketCache() async {
        var loaded = 0
        for status in [OrderStatus.ready, .cooking, .queued] {
            var after: Int64 = 0
            while loaded < TicketCache.defaultGenerationSize, !Task.isCancelled {
                let token = tickets.fillToken
                let limit = min(1_000, TicketCache.defaultGenerationSize - loaded)
                guard let orders = try? await listOrders(status: status, limit: limit, after: after),
                      let last = orders.last else { break }
                for order in orders { tickets.fill(order, readAfter: token) }
                loaded += orders.count
                after = last.id
            }
        }
        logger.debug("ticket cache warmed", metadata: ["orders": "\(loaded)"])
        cacheWarmed.open()
    }

    /// The number of queued orders that will be claimed before `order` (0 = next), from the
    /// in-memory queue index (a binary search, however long the queue).
    func queuedPosition(of order: Order) -> Int {
        queue.position(id: order.id, priority: order.priority)
    }

    /// Queued orders now, from the in-memory queue index.
    public var queuedCount: Int { queue.count }

    /// The order and its history, oldest event first.
    public func orderWithEvents(id: Int64) async throws -> (Order, [OrderEventRecord])? {
        try await pool.read { db in
            guard let order = try Self.fetchOrder(db, id: id) else { return nil }
            let events = try Row.fetchAll(db.cachedStatement(sql: SQL.eventsOfOrder), arguments: [id]).map(OrderRow.event)
            return (order, events)
        }
    }

    /// Orders oldest first, optionally of one status, after the id `after`.
    public func listOrders(status: OrderStatus?, limit: Int, after: Int64?) async throws -> [Order] {
        try await pool.read { db in
            let after = after ?? 0
            switch status {
            case nil:
                return try Row.fetchAll(db.cachedStatement(sql: SQL.listAll), arguments: [after, limit]).map(OrderRow.order)
            case .queued?:
                return try Self.listQueued(db, limit: limit, after: after)
            case let status?:
                return try Row.fetchAll(db.cachedStatement(sql: SQL.listPastQueue(status)), arguments: [after, limit])
                    .map(OrderRow.order)
            }
        }
    }

    /// Queued orders oldest first: each priority's range of `orders_queue` (rush first, then by
    /// id) read in id order up to `limit`, the two merged by id; only the rows kept are decoded.
    static func listQueued(_ db: Database, limit: Int, after: Int64) throws -> [Order] {
        let statement = try db.cachedStatement(sql: SQL.listQueuedOfPriority)
        let rush = try Row.fetchAll(statement, arguments: [OrderPriority.rush.rawValue, after, limit])
        let normal = try Row.fetchAll(statement, arguments: [OrderPriority.normal.rawValue, after, limit])
        var merged: [Row] = []
        merged.reserveCapacity(min(limit, rush.count + normal.count))
        var r = rush.startIndex, n = normal.startIndex
        while merged.count < limit, r < rush.endIndex || n < normal.endIndex {
            if n == normal.endIndex || (r < rush.endIndex && (rush[r]["id"] as Int64) < (normal[n]["id"] as Int64)) {
                merged.append(rush[r]); r += 1
            } else {
                merged.append(normal[n]); n += 1
            }
        }
        return try merged.map(OrderRow.order)
    }

    /// The public board: live numbers, preparing (queued or cooking) and ready.
    public func board() async throws -> Board {
        try await pool.read { db in
            var board = Board()
            let rows = try Row.fetchAll(db.cachedStatement(sql: SQL.board))
            for row in rows {
                let number: Int = row[0]
                let status: String = row[1]
                if status == OrderStatus.ready.rawValue { board.ready.append(number) } else { board.preparing.append(number) }
            }
            return board
        }
    }

    /// The board's lowest numbers per column and exact counts: the live-number index up to the
    /// limit for Preparing, the ready orders' index for Ready (no read of every live order,
    /// however many there are). A column whose list is not full is counted by its list, in the
    /// same snapshot (the two always agree). A full one is counted without reading its orders:
    /// queued orders from the writer's queue index (it follows each commit before the commit's
    /// change is announced: within a batch of the snapshot, never behind a change that woke the
    /// caller), cooking and ready ones on the status index. Counting 200,000 queued orders on
    /// the status index took 8-10 ms a board event, and the board waited for it.
    public func boardSummary(limit: Int) async throws -> BoardSummary {
        let queue = self.queue
        return try await pool.read { db in
            let preparing = try Int.fetchAll(db.cachedStatement(sql: SQL.boardPreparing), arguments: [limit])
            let ready = try Int.fetchAll(db.cachedStatement(sql: SQL.boardReady), arguments: [limit])
            let preparingCount = preparing.count < limit ? preparing.count : try queue.count + Self.count(db, .cooking)
            let readyCount = ready.count < limit ? ready.count : try Self.count(db, .ready)
            return BoardSummary(preparing: preparing, ready: ready, preparingCount: preparingCount, readyCount: readyCount)
        }
    }

    /// Live orders by status (queued, cooking, ready): the queue depth figures.
    /// Queued ones come from the writer's queue index, not from counting them (as the board's).
    public func liveCounts() async throws -> [OrderStatus: Int] {
        let queued = queue.count
        return try await pool.read { db in
            var counts: [OrderStatus: Int] = [.queued: queued, .cooking: 0, .ready: 0]
            for status in [OrderStatus.cooking, .ready] { counts[status] = try Self.count(db, status) }
            return counts
        }
    }

    /// Orders in `status`, counted on its index (for the statuses with few orders; the board and
    /// the depth figures take the queued count from the writer's queue index).
    static func count(_ db: Database, _ status: OrderStatus) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: SQL.count(status))) ?? 0
    }

    /// The earliest time a queued order becomes claimable, or nil when nothing is queued.
    public func nextAvailableAt() async throws -> Timestamp? {
        try await pool.read { db in
            try String.fetchOne(db.cachedStatement(sql: SQL.nextAvailable)).flatMap { Timestamp(rfc3339: $0) }
        }
    }

    /// True when a queued order is claimable now.
    public func hasClaimableWork(now: Timestamp) async throws -> Bool {
        try await pool.read { db in
            try Int.fetchOne(db.cachedStatement(sql: SQL.anyClaimable), arguments: [now.rfc3339]) != nil
        }
    }

    static func fetchOrder(_ db: Database, ticket: String) throws -> Order? {
        try Row.fetchOne(db.cachedStatement(sql: SQL.orderByTicket), arguments: [ticket]).map(OrderRow.order)
    }

    static func fetchOrder(_ db: Database, id: Int64) throws -> Order? {
        try Row.fetchOne(db.cachedStatement(sql: SQL.orderByID), arguments: [id]).map(OrderRow.order)
    }

    static func position(_ db: Database, of order: Order) throws -> Int {
        try Int.fetchOne(db.cachedStatement(sql: SQL.position),
                         arguments: [order.priority.rawValue, order.priority.rawValue, order.id]) ?? 0
    }
}
