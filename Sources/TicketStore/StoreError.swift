import TicketCore

/// What a store operation can fail with. Each case maps to one problem+json answer at the
/// HTTP edge.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No order with that ticket or id (or it was pruned).
    case notFound
    /// The order is not in a status where the operation applies.
    case invalidTransition(InvalidTransition)
    /// The lease named no longer holds: it expired, or the order was cancelled or claimed again.
    case leaseLost
    /// `kitchen.max_queued` orders are already queued.
    case queueFull
    /// Every ticket number is held by a live order.
    case numbersExhausted
    /// The Idempotency-Key was used before with a different body.
    case idempotencyKeyReused
    /// The database cannot serve the request now (disk full, file too large, locked past the
    /// busy timeout, I/O error; PostgreSQL down or unreachable). A write failed so wrote nothing,
    /// except when a PostgreSQL connection was lost during the commit: the reason then says the
    /// write may have been saved. Retrying later may succeed.
    case unavailable(String)
    /// The writer is shut down.
    case closed

    public var description: String {
        switch self {
        case .notFound: return "not found"
        case .invalidTransition(let t): return t.description
        case .leaseLost: return "the lease was lost (expired, cancelled or claimed again)"
        case .queueFull: return "the queue is full"
        case .numbersExhausted: return "every ticket number is in use"
        case .idempotencyKeyReused: return "the Idempotency-Key was used with a different body"
        case .unavailable(let why): return "the database is unavailable: \(why)"
        case .closed: return "the store is shut down"
        }
    }
}

/// Opening or migrating the database failed.
public enum StoreOpenError: Error, Sendable, CustomStringConvertible {
    /// The database has migrations this binary does not know: it was written by a newer ticketd.
    case databaseTooNew(path: String, unknown: [String], known: String)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case let .databaseTooNew(path, unknown, known):
            return "database \(path) was written by a newer ticketd (it has migrations \(unknown.joined(separator: ", ")); this binary knows up to \(known)); refusing to open it"
        case let .cannotOpen(path, reason):
            return "cannot open database \(path): \(reason)"
        }
    }
}
