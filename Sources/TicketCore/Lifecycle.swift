/// Something that happens to an order. Each event is one transaction in the store.
public enum OrderEvent: Sendable, Hashable, CustomStringConvertible {
    /// A cook claimed the order (counts one attempt).
    case claim
    /// The cook finished: the order is ready.
    case done
    /// The attempt failed (an error, a lost lease). `attemptsLeft` decides whether the order
    /// goes back to the queue or is `failed`.
    case attemptFailed(attemptsLeft: Bool)
    /// The customer collected a ready order.
    case pickup
    /// The ready order was not collected within the pickup timeout.
    case expire
    /// The customer cancelled (only while queued).
    case cancel
    /// An operator cancelled (any order not yet final).
    case operatorCancel
    /// An operator put a failed order back to the queue with fresh attempts.
    case operatorRequeue
    /// The daemon started and found the order cooking from an earlier run.
    case handBack

    public var description: String {
        switch self {
        case .claim: return "claim"
        case .done: return "done"
        case .attemptFailed(let left): return left ? "attempt failed (retry)" : "attempt failed (no attempts left)"
        case .pickup: return "pickup"
        case .expire: return "expire"
        case .cancel: return "cancel"
        case .operatorCancel: return "operator cancel"
        case .operatorRequeue: return "operator requeue"
        case .handBack: return "hand back"
        }
    }

    /// Every event, for exhaustive tests.
    public static let all: [OrderEvent] = [
        .claim, .done, .attemptFailed(attemptsLeft: true), .attemptFailed(attemptsLeft: false),
        .pickup, .expire, .cancel, .operatorCancel, .operatorRequeue, .handBack,
    ]
}

/// The outcome of a legal event: the new status and what the store records with it.
public struct Transition: Sendable, Hashable {
    public var from: OrderStatus
    public var to: OrderStatus
    public var event: OrderEvent
    /// Which timestamp column the transition sets (besides the event's own time).
    public var stamps: Set<Stamp>
    /// The transition bumps `version` by exactly one.
    public let versionBump = 1

    public enum Stamp: Sendable, Hashable {
        case cookingAt, readyAt, finishedAt
        /// Clears `cooking_at`, `ready_at` and `finished_at` (a requeue starts afresh).
        case clearProgress
    }
}

/// An event that does not apply to the order's current status.
public struct InvalidTransition: Error, Sendable, Hashable, CustomStringConvertible {
    public var from: OrderStatus
    public var event: OrderEvent
    public init(from: OrderStatus, event: OrderEvent) {
        self.from = from
        self.event = event
    }
    public var description: String { "cannot \(event) an order that is \(from.rawValue)" }
}

/// The lifecycle of SPEC's diagram as a pure function; the store's guarded SQL mirrors it.
public enum Lifecycle {
    /// The transition that `event` causes from `status`, or why it is illegal.
    public static func apply(_ event: OrderEvent, to status: OrderStatus) -> Result<Transition, InvalidTransition> {
        func ok(_ to: OrderStatus, _ stamps: Set<Transition.Stamp> = []) -> Result<Transition, InvalidTransition> {
            var stamps = stamps
            if to.isFinal { stamps.insert(.finishedAt) }
            return .success(Transition(from: status, to: to, event: event, stamps: stamps))
        }
        switch (status, event) {
        case (.queued, .claim): return ok(.cooking, [.cookingAt])
        case (.queued, .cancel), (.queued, .operatorCancel): return ok(.cancelled)
        case (.cooking, .done): return ok(.ready, [.readyAt])
        case (.cooking, .attemptFailed(attemptsLeft: true)): return ok(.queued)
        case (.cooking, .attemptFailed(attemptsLeft: false)): return ok(.failed)
        case (.cooking, .handBack): return ok(.queued)
        case (.cooking, .operatorCancel): return ok(.cancelled)
        case (.ready, .pickup): return ok(.pickedUp)
        case (.ready, .expire): return ok(.expired)
        case (.ready, .operatorCancel): return ok(.cancelled)
        case (.failed, .operatorRequeue): return ok(.queued, [.clearProgress])
        default: return .failure(InvalidTransition(from: status, event: event))
        }
    }
}
