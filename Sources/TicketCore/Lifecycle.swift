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

/// The outcome of a legal event: the new status, and what else the transition does to the order.
/// The lifecycle decides all of it; stores translate each effect into their own SQL and never
/// re-decide it (a new effect fails to compile in every store until it is handled there).
public struct Transition: Sendable, Hashable {
    public var from: OrderStatus
    public var to: OrderStatus
    public var event: OrderEvent
    /// What the transition does besides setting `status` and bumping `version`, in the order a
    /// store applies them.
    public var effects: [Effect]
    /// The transition bumps `version` by exactly one.
    public let versionBump = 1

    /// One thing a transition does to the order's columns.
    public enum Effect: Sendable, Hashable, CaseIterable {
        /// Claim: the cook's lease (token, owner, expiry) is set.
        case takeLease
        /// Claim: one more attempt is counted, whoever claims and however the attempt ends.
        case countAttempt
        /// Claim: `cooking_at` is the transition's time.
        case stampCookingAt
        /// The cook's lease ends (done, failed, handed back, cancelled while cooking).
        case releaseLease
        /// Back to the queue: the attempt's `cooking_at` is cleared.
        case clearCookingAt
        /// `ready_at` is the transition's time.
        case stampReadyAt
        /// A final status: `finished_at` is the transition's time.
        case stampFinishedAt
        /// An operator's requeue starts afresh: attempts 0, and `cooking_at`, `ready_at`,
        /// `finished_at` and `last_error` cleared.
        case resetProgress
    }

    /// The lease a claim grants (what `takeLease` sets).
    public struct Lease: Sendable, Hashable {
        public var token: String
        public var owner: String
        public var expiresAt: Timestamp
        public init(token: String, owner: String, expiresAt: Timestamp) {
            self.token = token
            self.owner = owner
            self.expiresAt = expiresAt
        }
    }

    /// What the caller supplies besides the event: the lease of a claim, the error of a failed
    /// attempt, and when a requeued order becomes claimable (retry backoff).
    public struct Inputs: Sendable, Hashable {
        public var lease: Lease?
        public var lastError: String?
        public var availableAt: Timestamp?
        public init(lease: Lease? = nil, lastError: String? = nil, availableAt: Timestamp? = nil) {
            self.lease = lease
            self.lastError = lastError
            self.availableAt = availableAt
        }
    }

    /// The order as it reads after this transition at `now`: what a store's guarded UPDATE
    /// writes, worked out without reading the row back. Inputs are applied after the effects
    /// (a failed attempt's error survives the lease's release).
    public func applied(to order: Order, at now: Timestamp, inputs: Inputs = Inputs()) -> Order {
        var o = order
        o.status = to
        o.version = order.version + versionBump
        for effect in effects {
            switch effect {
            case .takeLease:
                o.leaseOwner = inputs.lease?.owner
                o.leaseExpiresAt = inputs.lease?.expiresAt
            case .countAttempt: o.attempts += 1
            case .stampCookingAt: o.cookingAt = now
            case .releaseLease:
                o.leaseOwner = nil
                o.leaseExpiresAt = nil
            case .clearCookingAt: o.cookingAt = nil
            case .stampReadyAt: o.readyAt = now
            case .stampFinishedAt: o.finishedAt = now
            case .resetProgress:
                o.attempts = 0
                o.cookingAt = nil
                o.readyAt = nil
                o.finishedAt = nil
                o.lastError = nil
            }
        }
        if let lastError = inputs.lastError { o.lastError = lastError }
        if let availableAt = inputs.availableAt { o.availableAt = availableAt }
        return o
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

/// The lifecycle of SPEC's diagram as a pure function: the one owner of the rules of every
/// order state. Stores translate its answer into guarded SQL.
public enum Lifecycle {
    /// The transition that `event` causes from `status`, or why it is illegal.
    public static func apply(_ event: OrderEvent, to status: OrderStatus) -> Result<Transition, InvalidTransition> {
        func ok(_ to: OrderStatus, _ effects: [Transition.Effect] = []) -> Result<Transition, InvalidTransition> {
            var effects = effects
            if status == .cooking { effects.insert(.releaseLease, at: 0) }
            if to.isFinal { effects.append(.stampFinishedAt) }
            return .success(Transition(from: status, to: to, event: event, effects: effects))
        }
        switch (status, event) {
        case (.queued, .claim): return ok(.cooking, [.takeLease, .countAttempt, .stampCookingAt])
        case (.queued, .cancel), (.queued, .operatorCancel): return ok(.cancelled)
        case (.cooking, .done): return ok(.ready, [.stampReadyAt])
        case (.cooking, .attemptFailed(attemptsLeft: true)): return ok(.queued, [.clearCookingAt])
        case (.cooking, .attemptFailed(attemptsLeft: false)): return ok(.failed)
        case (.cooking, .handBack): return ok(.queued, [.clearCookingAt])
        case (.cooking, .operatorCancel): return ok(.cancelled)
        case (.ready, .pickup): return ok(.pickedUp)
        case (.ready, .expire): return ok(.expired)
        case (.ready, .operatorCancel): return ok(.cancelled)
        case (.failed, .operatorRequeue): return ok(.queued, [.resetProgress])
        default: return .failure(InvalidTransition(from: status, event: event))
        }
    }

    /// The one transition that cannot fail: a claim of a queued order.
    public static let claim: Transition = {
        guard case .success(let t) = apply(.claim, to: .queued) else { preconditionFailure("a queued order can be claimed") }
        return t
    }()
}
