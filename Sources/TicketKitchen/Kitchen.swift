import CoreMetrics
import Logging
import ServiceLifecycle
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// The in-process cooks: one service, each cook a child task. An idle cook waits for the
/// writer's "work available" signal (no polling interval); it claims with a lease, renews the
/// lease while cooking, and marks the order ready or reports the failure. On graceful shutdown
/// cooks stop claiming, finish within `shutdown_grace_seconds`, and hand back what is unfinished.
public final class Kitchen: Service, Sendable {
    let store: any OrderStore
    let settings: KitchenSettingsBox
    let estimator: CookTimeEstimator
    let logger: Logger
    let handlerFactory: @Sendable (KitchenSettings.HandlerKind) -> any CookingHandler
    let waitTimer: CoreMetrics.Timer
    let cookTimer: CoreMetrics.Timer
    let outcomes: [String: CoreMetrics.Counter]
    /// Opens when graceful shutdown begins: no new claims.
    let stopping = Gate()
    /// Opens `shutdown_grace_seconds` after that: unfinished orders are handed back.
    let graceOver = Gate()
    private let busy = Atomic<Int>(0)
    /// The indexes of the cooks running now.
    private let cookIndexes = Mutex<Set<Int>>([])
    /// Fires once all cooks have started (tests wait for it).
    public let started = Gate()
    /// Repeated failures (a full disk fails every claim) are logged at a bounded rate, shared by
    /// all cooks.
    let claimFailures = LogThrottle()
    let renewFailures = LogThrottle()
    let recordFailures = LogThrottle()

    public init(store: any OrderStore, settings: KitchenSettingsBox, estimator: CookTimeEstimator,
                metrics: any MetricsFactory, logger: Logger = Logger(label: "ticketd.kitchen"),
                handlerFactory: (@Sendable (KitchenSettings.HandlerKind) -> any CookingHandler)? = nil) {
        self.store = store
        self.settings = settings
        self.estimator = estimator
        self.logger = logger
        self.handlerFactory = handlerFactory ?? Kitchen.defaultHandler
        waitTimer = CoreMetrics.Timer(label: "ticketd_order_wait_seconds", preferredDisplayUnit: .seconds, factory: metrics)
        cookTimer = CoreMetrics.Timer(label: "ticketd_order_cook_seconds", preferredDisplayUnit: .seconds, factory: metrics)
        var outcomes: [String: CoreMetrics.Counter] = [:]
        for o in ["ready", "failed_attempt", "lease_lost", "handed_back"] {
            outcomes[o] = CoreMetrics.Counter(label: "ticketd_cook_outcomes_total", dimensions: [("outcome", o)], factory: metrics)
        }
        self.outcomes = outcomes
    }

    @Sendable static func defaultHandler(_ kind: KitchenSettings.HandlerKind) -> any CookingHandler {
        switch kind {
        case .simulate: return SimulatedCooking()
        case .command(let argv, let timeout): return CommandCooking(argv: argv, timeoutSeconds: timeout)
        }
    }

    /// Cooks cooking right now.
    public var busyCooks: Int { busy.load(ordering: .relaxed) }

    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await withGracefulShutdownHandler {
                    await self.stopping.wait()
                } onGracefulShutdown: {
                    self.beginShutdown()
                }
            }
            // Cooks 0..<n; a reload that raises the count starts the missing ones, one that lowers
            // it lets the extra cooks finish their order and leave. A cook still running (not yet
            // gone after a lowering) is not started twice.
            // Cancellation (the group failing) ends the kitchen as shutdown does.
            while !stopping.isOpen && !Task.isCancelled {
                let (current, generation) = settings.snapshot
                let missing = cookIndexes.withLock { running -> [Int] in
                    let missing = (0..<max(0, current.cooks)).filter { !running.contains($0) }
                    running.formUnion(missing)
                    return missing
                }
                for index in missing {
                    group.addTask { await self.cookLoop(index: index) }
                }
                // Idle cooks beyond the new count wake up and leave.
                if cookIndexes.withLock({ $0.contains { $0 >= current.cooks } }) { store.changes.signalWork() }
                started.open()
                await withTaskGroup(of: Void.self) { wait in
                    wait.addTask { await self.settings.waitForChange(after: generation) }
                    wait.addTask { await self.stopping.wait() }
                    await wait.next()
                    wait.cancelAll()
                }
            }
        }
        logger.info("kitchen stopped")
    }

    /// Stops claiming at once and starts the grace period for orders being cooked.
    public func beginShutdown() {
        guard !stopping.isOpen else { return }
        stopping.open()
        store.changes.signalWork()  // wake idle cooks so they leave
        let grace = settings.current.shutdownGraceSeconds
        Task {
            try? await Task.sleep(for: .milliseconds(Int64((grace * 1000).rounded())))
            self.graceOver.open()
        }
    }

    func cookLoop(index: Int) async {
        let name = "cook-\(index + 1)"
        var logger = self.logger
        logger[metadataKey: "cook"] = "\(name)"
        var backoff = FailureBackoff()
        while !stopping.isOpen && !Task.isCancelled {
            let current = settings.current
            // Leaving is decided under the same lock as starting, so a reload that raises the
            // count again either keeps this cook or starts a new one, never both or neither.
            let leave = cookIndexes.withLock { running -> Bool in
                guard index >= settings.current.cooks else { return false }
                running.remove(index)
                return true
            }
            if leave { return }
            let claims: [Claim]
            do {
                // Idle, the claim waits for new work (or the earliest retry, or at most 5 s: the
                // sweep also announces work that no commit did) while this cook is still wanted.
                claims = try await store.claim(cook: name, leaseSeconds: current.leaseSeconds, limit: current.ordersPerCook,
                                               until: .now + .seconds(5)) {
                    !self.stopping.isOpen && index < self.settings.current.cooks
                }
            } catch StoreError.closed {
                return  // the store is shut down: there is nothing left to claim from
            } catch {
                // Back off (up to 5 s), waking early for shutdown or a reload; log at a bounded rate.
                let delay = backoff.delay()
                if let held = claimFailures.admit() {
                    logger.warning("claim failed; retrying with backoff", metadata: [
                        "error": "\(error)", "retry_in_ms": "\(Int(delay * 1000))",
                        "similar_lines_suppressed": "\(held)",
                    ])
                }
                await store.changes.waitForWork(after: store.changes.workEpoch,
                                                until: .now + .milliseconds(Int64(delay * 1000)))
                continue
            }
            backoff.reset()
            if !claims.isEmpty {
                await serve(claims, settings: current, logger: logger)
            }
        }
    }

    /// Cooks what one claim took.
    func serve(_ claims: [Claim], settings current: KitchenSettings, logger: Logger) async {
        if claims.allSatisfy({ $0.order.cookSeconds <= 0 }), handlerFactory(current.handler) is SimulatedCooking {
            // Nothing to cook: no renewal or grace period can come into play, so no tasks;
            // the whole claim is ready in one write.
            await serveAtOnce(claims, logger: logger)
        } else if claims.count == 1 {
            await cook(claims[0], settings: current, logger: logger)
        } else {
            // `orders_per_cook` > 1: the orders of one claim cook side by side.
            let cookLogger = logger
            await withDiscardingTaskGroup { group in
                for claim in claims {
                    group.addTask { await self.cook(claim, settings: current, logger: cookLogger) }
                }
            }
        }
    }

    enum Outcome: Sendable {
        case cooked
        case failed(String)
        case leaseLost
        case handBack
    }

    func cook(_ claim: Claim, settings: KitchenSettings, logger base: Logger) async {
        var logger = base
        logger[metadataKey: "order"] = "\(claim.order.id)"
        logger[metadataKey: "number"] = "\(claim.order.number)"
        busy.add(1, ordering: .relaxed)
        defer { busy.subtract(1, ordering: .relaxed) }
        let order = claim.order
        recordWait(order)
        logger.debug("cooking", metadata: ["attempt": "\(order.attempts)"])
        let handler = handlerFactory(settings.handler)
        let started = ContinuousClock.now
        let outcome = await cookWatched(claim, handler: handler, settings: settings, logger: logger)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        do {
            switch outcome {
            case .cooked:
                let ready = try await store.markReady(claim)
                cookTimer.recordNanoseconds(Int64(seconds * 1e9))
                estimator.record(expected: order.cookSeconds, actual: seconds)
                outcomes["ready"]?.increment()
                logger.debug("order ready", metadata: ["version": "\(ready.version)"])
            case .failed(let message):
                let after = try await store.failAttempt(orderID: order.id, lease: claim.lease, error: message, retry: true)
                outcomes["failed_attempt"]?.increment()
                logger.warning("attempt failed", metadata: ["error": "\(message)", "now": "\(after.status.rawValue)"])
            case .leaseLost:
                outcomes["lease_lost"]?.increment()
                logger.warning("lease lost while cooking; the order is no longer ours")
            case .handBack:
                _ = try await store.handBack(orderID: order.id, lease: claim.lease,
                                             reason: "handed back by \(claim.order.leaseOwner ?? "a cook") at shutdown")
                outcomes["handed_back"]?.increment()
                logger.notice("order handed back to the queue at shutdown")
            }
        } catch StoreError.leaseLost {
            outcomes["lease_lost"]?.increment()
            logger.warning("lease lost before the result could be recorded")
        } catch {
            if let held = recordFailures.admit() {
                logger.error("could not record the cooking result", metadata: [
                    "error": "\(error)", "similar_lines_suppressed": "\(held)",
                ])
            }
        }
    }

    /// Placement to claim, for `ticketd_order_wait_seconds`.
    private func recordWait(_ order: Order) {
        if let cookingAt = order.cookingAt {
            waitTimer.recordMilliseconds(max(0, cookingAt.milliseconds - order.createdAt.milliseconds))
        }
    }

    /// Orders that need no cooking time (simulated, 0 s): ready together in one write.
    func serveAtOnce(_ claims: [Claim], logger: Logger) async {
        busy.add(claims.count, ordering: .relaxed)
        defer { busy.subtract(claims.count, ordering: .relaxed) }
        for claim in claims { recordWait(claim.order) }
        do {
            let results = try await store.markReady(claims)
            for (claim, result) in zip(claims, results) {
                let metadata: Logger.Metadata = ["order": "\(claim.order.id)", "number": "\(claim.order.number)"]
                switch result {
                case .success(let ready):
                    cookTimer.recordNanoseconds(0)
                    outcomes["ready"]?.increment()
                    logger.debug("order ready", metadata: metadata.merging(["version": "\(ready.version)"]) { $1 })
                case .failure:
                    outcomes["lease_lost"]?.increment()
                    logger.warning("lease lost before the result could be recorded", metadata: metadata)
                }
            }
        } catch {
            // The orders stay cooking under their leases; the rescuer requeues them if no one can.
            if let held = recordFailures.admit() {
                logger.error("could not record the cooking result", metadata: [
                    "error": "\(error)", "orders": "\(claims.count)", "similar_lines_suppressed": "\(held)",
                ])
            }
        }
    }

    /// Runs the handler while renewing the lease, until it ends, the lease is lost, or the grace
    /// period after shutdown runs out (hand back).
    func cookWatched(_ claim: Claim, handler: any CookingHandler, settings: KitchenSettings,
                     logger: Logger) async -> Outcome {
        let order = claim.order
        return await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    try await handler.cook(order)
                    return .cooked
                } catch let failure as CookingFailure {
                    return .failed(failure.message)
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failed("\(error)")
                }
            }
            let renewLogger = logger
            group.addTask { await self.renewWhileCooking(claim, leaseSeconds: settings.leaseSeconds, logger: renewLogger) }
            group.addTask {
                await self.graceOver.wait()
                return Task.isCancelled ? nil : .handBack
            }
            var result: Outcome = .handBack
            while let next = await group.next() {
                if let next { result = next; break }
            }
            group.cancelAll()
            return result
        }
    }

    /// Renews the lease every third of its length; returns `.leaseLost` if a renewal is refused,
    /// nil when cancelled (cooking ended).
    func renewWhileCooking(_ claim: Claim, leaseSeconds: Double, logger: Logger) async -> Outcome? {
        let interval = max(0.2, leaseSeconds / 3)
        while true {
            do {
                try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
            } catch {
                return nil
            }
            do {
                _ = try await store.renewLease(orderID: claim.order.id, lease: claim.lease, leaseSeconds: leaseSeconds)
            } catch StoreError.leaseLost, StoreError.notFound {
                return .leaseLost
            } catch {
                if let held = renewFailures.admit() {
                    logger.warning("lease renewal failed; will retry", metadata: [
                        "error": "\(error)", "similar_lines_suppressed": "\(held)",
                    ])
                }
            }
        }
    }
}
