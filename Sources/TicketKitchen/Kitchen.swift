import CoreMetrics
import Logging
import ServiceLifecycle
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// The in-process cooks: one service. One claimer claims for every idle cook at once (the
/// store leases each order to its cook by name, `orders_per_cook` orders per cook), waiting for
/// the writer's "work available" signal while the queue is empty (no polling interval); each
/// cook then cooks its orders in a child task, renewing the lease while cooking, and marks them
/// ready or reports the failure. Orders that need no cooking time are made ready together, one
/// write for the whole claim. On graceful shutdown the claimer stops, cooks finish within
/// `shutdown_grace_seconds`, and hand back what is unfinished.
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
    /// The cooks (by index) cooking now; `freed` moves on whenever one finishes.
    private let crew = WaitableState(Crew())
    /// Fires once the claimer has started (tests wait for it).
    public let started = Gate()
    /// Repeated failures (a full disk fails every claim) are logged at a bounded rate.
    let claimFailures = LogThrottle()
    let renewFailures = LogThrottle()
    let recordFailures = LogThrottle()

    struct Crew: Sendable {
        var cooking: Set<Int> = []
        var freed: UInt64 = 0
    }

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

    /// The name a cook's leases and events carry.
    static func name(ofCook index: Int) -> String { "cook-\(index + 1)" }

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
            group.addTask {
                // A reload wakes a waiting claim, which then claims for the new set of cooks.
                var generation = self.settings.snapshot.generation
                while !self.stopping.isOpen && !Task.isCancelled {
                    await self.waitForCook(after: nil, settingsGeneration: generation)
                    generation = self.settings.snapshot.generation
                    self.store.changes.signalWork()
                }
            }
            started.open()
            // Claims for the idle cooks until shutdown; each cook's orders cook in a child task.
            // A reload that lowers the count lets the extra cooks finish and claims no more for
            // them; one that raises it claims for the new ones at once. Cancellation (the group
            // failing) ends the kitchen as shutdown does.
            var backoff = FailureBackoff()
            while !stopping.isOpen && !Task.isCancelled {
                let (current, generation) = settings.snapshot
                let (idle, freed) = crew.read { c in
                    ((0..<max(0, current.cooks)).filter { !c.cooking.contains($0) }, c.freed)
                }
                if idle.isEmpty {
                    await waitForCook(after: freed, settingsGeneration: generation)
                    continue
                }
                let names = idle.flatMap { Array(repeating: Self.name(ofCook: $0), count: current.ordersPerCook) }
                let claims: [Claim]
                do {
                    // Idle, the claim waits for new work (or the earliest retry, or at most 5 s: the
                    // sweep also announces work that no commit did) while nothing was reloaded.
                    claims = try await store.claim(cooks: names, leaseSeconds: current.leaseSeconds,
                                                   until: .now + .seconds(5)) {
                        !self.stopping.isOpen && self.settings.snapshot.generation == generation
                    }
                } catch StoreError.closed {
                    break  // the store is shut down: there is nothing left to claim from
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
                if claims.isEmpty { continue }
                hand(claims, to: idle, settings: current, in: &group)
            }
        }
        logger.info("kitchen stopped")
    }

    /// Gives each cook the orders leased to it, as child tasks of `group`: orders needing no
    /// cooking time all together (one write), the rest cook by cook.
    private func hand(_ claims: [Claim], to idle: [Int], settings current: KitchenSettings,
                      in group: inout DiscardingTaskGroup) {
        let indexByName = Dictionary(idle.map { (Self.name(ofCook: $0), $0) }, uniquingKeysWith: { a, _ in a })
        var byCook: [Int: [Claim]] = [:]
        for claim in claims {
            guard let index = claim.order.leaseOwner.flatMap({ indexByName[$0] }) ?? idle.first else { continue }
            byCook[index, default: []].append(claim)
        }
        if claims.allSatisfy({ $0.order.cookSeconds <= 0 }), handlerFactory(current.handler) is SimulatedCooking {
            // Nothing to cook: no renewal or grace period can come into play, so no task per
            // cook; the whole claim is ready in one write. The cooks are free at once (there was
            // nothing to cook), so the next claim shares a batch with this ready write: one
            // commit per claim, not two.
            group.addTask { await self.serveAtOnce(claims, logger: self.logger) }
            return
        }
        crew.update { $0.cooking.formUnion(byCook.keys) }
        for (index, its) in byCook {
            var cookLogger = logger
            cookLogger[metadataKey: "cook"] = "\(Self.name(ofCook: index))"
            let logger = cookLogger
            group.addTask {
                await self.serve(its, settings: current, logger: logger)
                self.crew.update { c in
                    c.cooking.remove(index)
                    c.freed &+= 1
                }
            }
        }
    }

    /// Returns once a cook has finished since `freed` (nil: not waited for), the settings
    /// changed, or shutdown began.
    private func waitForCook(after freed: UInt64?, settingsGeneration: UInt64) async {
        await withTaskGroup(of: Void.self) { wait in
            if let freed {
                wait.addTask { _ = await self.crew.wait { $0.freed != freed ? () : nil } }
            }
            wait.addTask { await self.settings.waitForChange(after: settingsGeneration) }
            wait.addTask { await self.stopping.wait() }
            await wait.next()
            wait.cancelAll()
        }
    }

    /// Stops claiming at once and starts the grace period for orders being cooked.
    public func beginShutdown() {
        guard !stopping.isOpen else { return }
        stopping.open()
        store.changes.signalWork()  // wake the waiting claim so that it ends
        let grace = settings.current.shutdownGraceSeconds
        Task {
            try? await Task.sleep(for: .milliseconds(Int64((grace * 1000).rounded())))
            self.graceOver.open()
        }
    }

    /// Cooks what one cook was handed.
    func serve(_ claims: [Claim], settings current: KitchenSettings, logger: Logger) async {
        if claims.count == 1 {
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
                let metadata: Logger.Metadata = ["order": "\(claim.order.id)", "number": "\(claim.order.number)",
                                                 "cook": "\(claim.order.leaseOwner ?? "?")"]
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
