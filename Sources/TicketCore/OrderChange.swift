/// What a listener to every commit learns of one changed order: the board, the kitchen display
/// and the console's activity need no more. On a store shared by several nodes, another node's
/// notification carries it whole, so such listeners follow other nodes without a read.
public struct OrderChange: Sendable, Equatable {
    public var id: Int64
    public var version: Int
    public var status: OrderStatus
    /// For a change to `ready`: milliseconds from placement to ready, and from the claim to ready.
    public var waitMilliseconds: Int64?
    public var cookMilliseconds: Int64?

    public init(id: Int64, version: Int, status: OrderStatus, waitMilliseconds: Int64? = nil,
                cookMilliseconds: Int64? = nil) {
        self.id = id
        self.version = version
        self.status = status
        self.waitMilliseconds = waitMilliseconds
        self.cookMilliseconds = cookMilliseconds
    }

    public init(_ order: Order) {
        var wait: Int64?
        var cook: Int64?
        if order.status == .ready, let ready = order.readyAt {
            wait = ready.milliseconds - order.createdAt.milliseconds
            cook = order.cookingAt.map { ready.milliseconds - $0.milliseconds }
        }
        self.init(id: order.id, version: order.version, status: order.status, waitMilliseconds: wait,
                  cookMilliseconds: cook)
    }
}
