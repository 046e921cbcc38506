/// One line of an order: a menu item and how many.
public struct OrderLine: Sendable, Hashable, Codable {
    public var item: String
    public var quantity: Int
    public init(item: String, quantity: Int) {
        self.item = item
        self.quantity = quantity
    }
}

/// A validated order as placed by a customer (before it is stored).
public struct NewOrder: Sendable, Hashable {
    public var items: [OrderLine]
    public var customer: String?
    public var note: String?
    public var priority: OrderPriority
    /// Total cooking time in seconds (the sum over lines of cook_seconds × quantity), kept with
    /// the order for estimates.
    public var cookSeconds: Double

    public init(items: [OrderLine], customer: String? = nil, note: String? = nil,
                priority: OrderPriority = .normal, cookSeconds: Double = 0) {
        self.items = items
        self.customer = customer
        self.note = note
        self.priority = priority
        self.cookSeconds = cookSeconds
    }
}

/// A stored order, as the store reads it back (the operator view has every field).
public struct Order: Sendable, Hashable {
    public var id: Int64
    public var ticket: String
    public var number: Int
    public var status: OrderStatus
    public var priority: OrderPriority
    public var items: [OrderLine]
    public var customer: String?
    public var note: String?
    public var version: Int
    public var attempts: Int
    public var maxAttempts: Int
    public var lastError: String?
    public var leaseOwner: String?
    public var leaseExpiresAt: Timestamp?
    public var cookSeconds: Double
    public var availableAt: Timestamp
    public var createdAt: Timestamp
    public var cookingAt: Timestamp?
    public var readyAt: Timestamp?
    public var finishedAt: Timestamp?

    public init(id: Int64, ticket: String, number: Int, status: OrderStatus, priority: OrderPriority,
                items: [OrderLine], customer: String?, note: String?, version: Int, attempts: Int,
                maxAttempts: Int, lastError: String?, leaseOwner: String?, leaseExpiresAt: Timestamp?,
                cookSeconds: Double, availableAt: Timestamp, createdAt: Timestamp, cookingAt: Timestamp?,
                readyAt: Timestamp?, finishedAt: Timestamp?) {
        self.id = id; self.ticket = ticket; self.number = number; self.status = status
        self.priority = priority; self.items = items; self.customer = customer; self.note = note
        self.version = version; self.attempts = attempts; self.maxAttempts = maxAttempts
        self.lastError = lastError; self.leaseOwner = leaseOwner; self.leaseExpiresAt = leaseExpiresAt
        self.cookSeconds = cookSeconds; self.availableAt = availableAt; self.createdAt = createdAt
        self.cookingAt = cookingAt; self.readyAt = readyAt; self.finishedAt = finishedAt
    }
}

/// One row of an order's history.
public struct OrderEventRecord: Sendable, Hashable {
    public var from: OrderStatus?
    public var to: OrderStatus
    public var at: Timestamp
    public var detail: String?
    public init(from: OrderStatus?, to: OrderStatus, at: Timestamp, detail: String?) {
        self.from = from; self.to = to; self.at = at; self.detail = detail
    }
}
