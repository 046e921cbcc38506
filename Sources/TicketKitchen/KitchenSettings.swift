import TicketCore
import TicketWaiting

/// The kitchen's settings; SIGHUP replaces them while cooks run.
public struct KitchenSettings: Sendable, Equatable {
    public enum HandlerKind: Sendable, Equatable {
        /// Wait the order's cook_seconds (the sum of each line's cook_seconds × quantity).
        case simulate
        /// Run a program with the order JSON on standard input; exit 0 means ready.
        case command(argv: [String], timeoutSeconds: Double)
    }

    public var cooks: Int
    /// Orders one cook claims in one claim and cooks side by side (1 = one at a time).
    public var ordersPerCook: Int
    public var handler: HandlerKind
    public var leaseSeconds: Double
    public var shutdownGraceSeconds: Double
    public var pickupTimeoutSeconds: Double
    public var retentionDays: Double
    /// How often the sweeper looks for expired leases, uncollected orders and outside writes.
    public var sweepIntervalSeconds: Double

    public init(cooks: Int = 4, ordersPerCook: Int = 1, handler: HandlerKind = .simulate, leaseSeconds: Double = 30,
                shutdownGraceSeconds: Double = 5, pickupTimeoutSeconds: Double = 1800, retentionDays: Double = 7,
                sweepIntervalSeconds: Double = 0.5) {
        self.cooks = cooks
        self.ordersPerCook = max(1, ordersPerCook)
        self.handler = handler
        self.leaseSeconds = leaseSeconds
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.pickupTimeoutSeconds = pickupTimeoutSeconds
        self.retentionDays = retentionDays
        self.sweepIntervalSeconds = sweepIntervalSeconds
    }
}

/// Holds the current settings and tells waiting parties when they change.
public final class KitchenSettingsBox: Sendable {
    private struct State {
        var settings: KitchenSettings
        /// Bumped by every `update`, so that a waiter misses no change made between reading the
        /// settings and starting to wait.
        var generation: UInt64 = 0
    }
    private let state: WaitableState<State>

    public init(_ settings: KitchenSettings) { state = WaitableState(State(settings: settings)) }

    public var current: KitchenSettings { state.read { $0.settings } }

    /// The settings with the generation they belong to (for `waitForChange(after:)`).
    var snapshot: (settings: KitchenSettings, generation: UInt64) {
        state.read { ($0.settings, $0.generation) }
    }

    public func update(_ settings: KitchenSettings) {
        state.update { s in
            s.settings = settings
            s.generation &+= 1
        }
    }

    /// Returns once the settings have changed since `generation` (at once if they already
    /// have), or on cancellation.
    func waitForChange(after generation: UInt64) async {
        _ = await state.wait { $0.generation != generation ? () : nil }
    }
}
