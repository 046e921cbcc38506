import Synchronization
import TicketCore

/// The kitchen's settings; SIGHUP replaces them while cooks run.
public struct KitchenSettings: Sendable, Equatable {
    public enum HandlerKind: Sendable, Equatable {
        /// Wait the order's cook_seconds (the sum of each line's cook_seconds × quantity).
        case simulate
        /// Run a program with the order JSON on standard input; exit 0 means ready.
        case command(argv: [String], timeoutSeconds: Double)
    }

    public var cooks: Int
    public var handler: HandlerKind
    public var leaseSeconds: Double
    public var shutdownGraceSeconds: Double
    public var pickupTimeoutSeconds: Double
    public var retentionDays: Double
    /// How often the sweeper looks for expired leases, uncollected orders and outside writes.
    public var sweepIntervalSeconds: Double

    public init(cooks: Int = 4, handler: HandlerKind = .simulate, leaseSeconds: Double = 30,
                shutdownGraceSeconds: Double = 5, pickupTimeoutSeconds: Double = 1800, retentionDays: Double = 7,
                sweepIntervalSeconds: Double = 0.5) {
        self.cooks = cooks
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
    private let value: Mutex<KitchenSettings>
    private let changed = Latch.Signal()

    public init(_ settings: KitchenSettings) { value = Mutex(settings) }

    public var current: KitchenSettings { value.withLock { $0 } }

    public func update(_ settings: KitchenSettings) {
        value.withLock { $0 = settings }
        changed.fire()
    }

    /// Returns after the next `update`, or on cancellation.
    func waitForChange() async { await changed.wait() }
}
