/// When an order will be ready (`estimated_ready_at`) and how often to poll (`Retry-After`), from
/// a snapshot of the kitchen: the measured ratio of actual to menu cooking time and the cooks.
public struct ReadyEstimate: Sendable, Hashable {
    /// Actual seconds per menu second (`CookTimeEstimator.ratio`).
    public var ratio: Double
    /// Cooks sharing the queue (0 counts as 1: external cooks).
    public var cooks: Int

    public init(ratio: Double = 1, cooks: Int) {
        self.ratio = ratio
        self.cooks = cooks
    }

    public init(estimator: CookTimeEstimator, cooks: Int) {
        self.init(ratio: estimator.ratio, cooks: cooks)
    }

    /// While queued: the orders ahead shared among the cooks, then this order's own cooking
    /// time; while cooking: what is left of it; nil otherwise.
    public func readyAt(_ order: Order, position: Int?, now: Timestamp) -> Timestamp? {
        let own = order.cookSeconds * ratio
        let seconds: Double
        switch order.status {
        case .queued:
            let rounds = Double((position ?? 0) / max(cooks, 1))
            seconds = rounds * max(order.cookSeconds, 0.5) * ratio + own
        case .cooking:
            seconds = max(0, own - (order.cookingAt.map { now.seconds(since: $0) } ?? 0))
        default:
            return nil
        }
        let start = order.status == .queued ? max(now, order.availableAt) : now
        return start.adding(seconds: seconds)
    }

    /// A suggested poll interval in whole seconds: about the time left, 1 to 30 (5 once nothing
    /// is left to estimate).
    public func pollInterval(_ order: Order, position: Int?, now: Timestamp) -> Int {
        guard let eta = readyAt(order, position: position, now: now) else { return 5 }
        return Int(min(30, max(1, eta.seconds(since: now).rounded(.up))))
    }
}

/// The customer's ticket as JSON: the answer to a placement, a read, a cancel, a pickup, a
/// long poll and each SSE event. Core owns it so that a store can keep the first answer of an
/// idempotent placement byte for byte (written in the placement's transaction) without running
/// HTTP code on its writer.
public enum TicketBody {
    /// `position` only while queued, `estimated_ready_at` while queued or cooking.
    public static func write(_ order: Order, position: Int?, estimate: ReadyEstimate, now: Timestamp,
                             to w: inout JSONWriter) {
        w.beginObject()
        w.key("ticket"); w.value(order.ticket)
        w.key("number"); w.value(order.number)
        w.key("status"); w.value(order.status.rawValue)
        w.key("version"); w.value(order.version)
        if order.status == .queued { w.key("position"); w.value(position ?? 0) }
        if let eta = estimate.readyAt(order, position: position, now: now) {
            w.key("estimated_ready_at"); w.value(eta)
        }
        w.key("items"); OrderItemsJSON.write(order.items, to: &w)
        w.key("customer"); w.value(order.customer)
        w.key("note"); w.value(order.note)
        w.key("priority"); w.value(order.priority.rawValue)
        w.key("created_at"); w.value(order.createdAt)
        w.key("cooking_at"); w.value(order.cookingAt)
        w.key("ready_at"); w.value(order.readyAt)
        w.key("finished_at"); w.value(order.finishedAt)
        w.endObject()
    }

    /// The body as one buffer.
    public static func render(_ order: Order, position: Int?, estimate: ReadyEstimate, now: Timestamp) -> [UInt8] {
        var w = JSONWriter()
        write(order, position: position, estimate: estimate, now: now, to: &w)
        return w.bytes
    }
}
