import TicketCore

/// Runs `kitchen.command` with the order JSON on standard input (issue: command handler).
public struct CommandCooking: CookingHandler {
    public var argv: [String]
    public var timeoutSeconds: Double

    public init(argv: [String], timeoutSeconds: Double) {
        self.argv = argv
        self.timeoutSeconds = timeoutSeconds
    }

    public func cook(_ order: Order) async throws {
        throw CookingFailure("the command handler is not available in this build")
    }
}
