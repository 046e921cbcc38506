import Logging
import ServiceLifecycle
import TicketCore
import TicketStore

/// The maintenance service: every sweep it requeues orders whose lease ran out, expires ready
/// orders not collected in time, wakes the cooks if claimable work exists that no commit
/// announced (an outside writer, a retry whose backoff ended), and now and then prunes
/// finished orders past retention in small batches.
public final class Sweeper: Service, Sendable {
    let store: any OrderStore
    let settings: KitchenSettingsBox
    let logger: Logger
    let pruneEvery = 60
    /// A sweep fails every time while the disk is full: log it at a bounded rate.
    let failures = LogThrottle()

    public init(store: any OrderStore, settings: KitchenSettingsBox, logger: Logger = Logger(label: "ticketd.sweeper")) {
        self.store = store
        self.settings = settings
        self.logger = logger
    }

    /// What one sweep did.
    public struct SweepResult: Sendable, Equatable {
        public var requeued = 0
        public var expired = 0
        public var pruned = 0
        public var signalled = false
    }

    public func run() async {
        var tick = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = await runOnce(prune: tick % pruneEvery == 0)
            tick += 1
            let interval = settings.current.sweepIntervalSeconds
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(interval * 1000))) }
            } catch {
                return
            }
        }
    }

    /// One sweep. Errors are logged, never fatal: the next sweep tries again.
    public func runOnce(prune: Bool = true) async -> SweepResult {
        var result = SweepResult()
        let current = settings.current
        do {
            let requeued = try await store.requeueExpiredLeases(limit: 100)
            result.requeued = requeued.count
            for order in requeued {
                logger.warning("lease expired", metadata: ["order": "\(order.id)", "number": "\(order.number)", "now": "\(order.status.rawValue)"])
            }
            let expired = try await store.expireUncollected(pickupTimeout: current.pickupTimeoutSeconds, limit: 100)
            result.expired = expired.count
            for order in expired {
                logger.info("order expired", metadata: ["order": "\(order.id)", "number": "\(order.number)"])
            }
            result.signalled = try await store.sweepOutsideWrites()
            if prune {
                let cutoff = store.now().adding(seconds: -current.retentionDays * 86400)
                while true {
                    let n = try await store.pruneFinished(before: cutoff, limit: 500)
                    result.pruned += n
                    if n < 500 || Task.isCancelled { break }
                    await Task.yield()
                }
                if result.pruned > 0 { logger.info("pruned finished orders", metadata: ["count": "\(result.pruned)"]) }
            }
        } catch {
            if let held = failures.admit() {
                logger.warning("sweep failed", metadata: ["error": "\(error)", "similar_lines_suppressed": "\(held)"])
            }
        }
        return result
    }
}

