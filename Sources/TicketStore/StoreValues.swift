import TicketCore

/// What a placement produced.
public struct Placement: Sendable {
    public var order: Order
    /// Queued orders that will be claimed before this one, as of the placement's commit.
    public var position: Int
    /// True when an Idempotency-Key matched an earlier placement: nothing was created.
    public var replayed: Bool
    /// The status code of the first answer.
    public var statusCode: Int
    /// The body of the first answer (`TicketBody`), as stored with the Idempotency-Key; nil
    /// when the placement carried no key.
    public var response: [UInt8]?

    public init(order: Order, position: Int, replayed: Bool, statusCode: Int, response: [UInt8]?) {
        self.order = order
        self.position = position
        self.replayed = replayed
        self.statusCode = statusCode
        self.response = response
    }
}

/// How a placement is answered, so that the first answer can be stored with an Idempotency-Key
/// in the placement's own transaction and replayed byte for byte.
public struct PlacementAnswer: Sendable, Hashable {
    public var statusCode: Int
    public var estimate: ReadyEstimate

    public init(statusCode: Int = 202, estimate: ReadyEstimate) {
        self.statusCode = statusCode
        self.estimate = estimate
    }

    /// The first answer's body for a new order at `position`.
    public func body(_ order: Order, position: Int) -> [UInt8] {
        TicketBody.render(order, position: position, estimate: estimate, now: order.createdAt)
    }
}

/// An Idempotency-Key with the hash of the request it came with.
public struct IdempotencyKey: Sendable, Hashable {
    public var key: String
    public var requestHash: String
    public init(key: String, requestHash: String) {
        self.key = key
        self.requestHash = requestHash
    }
}

/// A ticket's order and, while it is queued, its position.
public struct TicketState: Sendable, Hashable {
    public var order: Order
    public var position: Int?
    public init(order: Order, position: Int?) {
        self.order = order
        self.position = position
    }
}

/// A claimed order and the lease that every later step of the attempt must name.
public struct Claim: Sendable, Hashable {
    public var order: Order
    public var lease: String
    public var leaseExpiresAt: Timestamp
    public init(order: Order, lease: String, leaseExpiresAt: Timestamp) {
        self.order = order
        self.lease = lease
        self.leaseExpiresAt = leaseExpiresAt
    }
}

/// Numbers on the public board.
public struct Board: Sendable, Hashable {
    public var preparing: [Int] = []
    public var ready: [Int] = []
    public init(preparing: [Int] = [], ready: [Int] = []) {
        self.preparing = preparing
        self.ready = ready
    }
}

/// The board as its live feed shows it: the lowest numbers of each column, up to a limit, and
/// each column's exact count.
public struct BoardSummary: Sendable, Hashable {
    public var preparing: [Int]
    public var ready: [Int]
    public var preparingCount: Int
    public var readyCount: Int
    public init(preparing: [Int], ready: [Int], preparingCount: Int, readyCount: Int) {
        self.preparing = preparing
        self.ready = ready
        self.preparingCount = preparingCount
        self.readyCount = readyCount
    }
}

/// Counters of a store's writes, for `/metrics`: their ratio is the mean batch size.
public struct StoreStatistics: Sendable, Hashable {
    public var commits = 0
    public var writes = 0
    public var failedCommits = 0
    /// Batches that ran a second time, each request in a savepoint of its own, after a request
    /// failed in the first run (PostgreSQL: a failed statement aborts the transaction).
    public var reruns = 0
    public init(commits: Int = 0, writes: Int = 0, failedCommits: Int = 0, reruns: Int = 0) {
        self.commits = commits
        self.writes = writes
        self.failedCommits = failedCommits
        self.reruns = reruns
    }
}
