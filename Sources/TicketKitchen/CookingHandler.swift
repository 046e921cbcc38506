import TicketCore

/// An attempt that did not cook the order; the message is kept as the order's last error.
public struct CookingFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What cooking means. Returns when the order is cooked; throws `CookingFailure` for a failed
/// attempt, or `CancellationError` when the kitchen hands the order back (shutdown).
public protocol CookingHandler: Sendable {
    func cook(_ order: Order) async throws
}

/// Waits the order's cooking time: the sum over its lines of cook_seconds × quantity.
public struct SimulatedCooking: CookingHandler {
    public init() {}
    public func cook(_ order: Order) async throws {
        guard order.cookSeconds > 0 else { return }
        try await Task.sleep(for: .milliseconds(Int64((order.cookSeconds * 1000).rounded())))
    }
}
