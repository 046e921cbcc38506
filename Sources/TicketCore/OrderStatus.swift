/// Where an order is in its lifecycle. Each case says who moves it on.
public enum OrderStatus: String, Sendable, CaseIterable, Codable, Hashable {
    /// Waiting in the queue. A cook (in-process or external) moves it to `cooking` by a claim;
    /// the customer or an operator may cancel it.
    case queued
    /// A cook holds a lease on it. The cook moves it to `ready` or reports a failure; if the lease
    /// runs out, the rescuer puts it back to `queued` (or `failed` when no attempts are left).
    case cooking
    /// Cooked, waiting for the customer. The customer picks it up; the expirer moves it to
    /// `expired` once `tickets.pickup_timeout_seconds` pass.
    case ready
    /// Final: collected by the customer.
    case pickedUp = "picked_up"
    /// Final: cancelled by the customer (while queued) or by an operator.
    case cancelled
    /// Final until an operator requeues it: every attempt failed.
    case failed
    /// Final: ready but not collected in time.
    case expired

    /// Statuses that hold a ticket number (a number is never shared by two live orders).
    public static let live: [OrderStatus] = [.queued, .cooking, .ready]

    /// True for `picked_up`, `cancelled`, `failed` and `expired`.
    public var isFinal: Bool {
        switch self {
        case .pickedUp, .cancelled, .failed, .expired: return true
        case .queued, .cooking, .ready: return false
        }
    }

    /// True while the order holds its ticket number.
    public var isLive: Bool { !isFinal }
}

/// `rush` orders are claimed before `normal` ones.
public enum OrderPriority: String, Sendable, CaseIterable, Codable, Hashable {
    case normal
    case rush
}
