import CoreMetrics
import Foundation
import Logging
import Synchronization
import Testing
import TicketCore
import TicketKitchen
import TicketStore
import TicketStoreSQLite
import TicketTestSupport
import TicketWaiting

// MARK: - The kitchen under test

/// What a kitchen test gets: a running store (its writer runs), the kitchen (started unless the
/// test asked otherwise), its settings box, and the temporary directory holding the database.
struct KitchenEnv: Sendable {
    let store: any OrderStore
    let kitchen: Kitchen
    let settings: KitchenSettingsBox
    let directory: URL
    let path: String
    /// Opening it lets the kitchen's `run()` begin.
    let launch: Gate
    /// Opens when the kitchen's `run()` has returned.
    let returned: Gate

    /// Starts the kitchen (if not started yet) and waits until all its cooks have started.
    func startKitchen(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        launch.open()
        try await waitUntil("the kitchen to start its cooks", sourceLocation: sourceLocation) { kitchen.started.isOpen }
    }

    /// Begins graceful shutdown and waits until the kitchen's run returns; the time it took.
    @discardableResult
    func stopKitchen(timeout: Duration = .seconds(15), sourceLocation: SourceLocation = #_sourceLocation) async throws -> Duration {
        let start = ContinuousClock.now
        launch.open()
        kitchen.beginShutdown()
        try await waitUntil("the kitchen's run to return", timeout: timeout, poll: .milliseconds(5),
                            sourceLocation: sourceLocation) { returned.isOpen }
        return ContinuousClock.now - start
    }

    /// A write through the store that changes nothing: once it returns, what any cook wrote
    /// before it has been committed too.
    func writeRoundTrip() async throws {
        _ = try await store.pruneFinished(before: Timestamp(milliseconds: 0), limit: 1)
    }

    /// A sweeper over the same store and settings.
    func sweeper() -> Sweeper { Sweeper(store: store, settings: settings, logger: testLogger("ticketd.sweeper")) }

    /// Places a one-line order.
    @discardableResult
    func place(_ item: String = "fries", priority: OrderPriority = .normal, cookSeconds: Double = 0,
               customer: String? = nil) async throws -> Order {
        try await store.place(NewOrder(items: [OrderLine(item: item, quantity: 1)], customer: customer,
                                       priority: priority, cookSeconds: cookSeconds)).order
    }

    /// The order by id, failing the test if it is missing.
    func order(_ id: Int64, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Order {
        try #require(try await store.order(id: id), "order \(id) is missing", sourceLocation: sourceLocation)
    }

    func events(_ id: Int64) async throws -> [OrderEventRecord] {
        try await store.orderWithEvents(id: id)?.1 ?? []
    }

    /// Waits until the order has `status`; returns it.
    @discardableResult
    func waitForStatus(_ id: Int64, _ status: OrderStatus, timeout: Duration = .seconds(10),
                       sourceLocation: SourceLocation = #_sourceLocation) async throws -> Order {
        var last: OrderStatus?
        do {
            return try await waitFor("order \(id) to become \(status.rawValue)", timeout: timeout,
                                     sourceLocation: sourceLocation) {
                let order = try await store.order(id: id)
                last = order?.status
                return order?.status == status ? order : nil
            }
        } catch {
            Issue.record("order \(id) was last seen \(last?.rawValue ?? "missing")", sourceLocation: sourceLocation)
            throw error
        }
    }
}

/// A retry policy fast enough for tests.
let fastRetry = RetryPolicy(maxAttempts: 3, baseSeconds: 0.05, maxSeconds: 0.2)

/// Opens a store on a new database in a temporary directory, runs its group-commit writer and the
/// kitchen's `run()` as children of a task group, runs `body`, then shuts the kitchen down
/// (`beginShutdown()`, waiting for `run()` to return), closes the writer and the store and
/// removes the directory, also when `body` throws.
///
/// `handler`, when given, cooks every order whatever the settings' handler kind; otherwise the
/// kitchen's default handlers (simulate, command) are used.
func withKitchen(
    store storeSettings: StoreSettings = StoreSettings(retry: fastRetry),
    kitchen kitchenSettings: KitchenSettings = KitchenSettings(cooks: 1),
    clock: any WallClock = SystemWallClock(),
    handler: (any CookingHandler)? = nil,
    startKitchen: Bool = true,
    _ body: (KitchenEnv) async throws -> Void
) async throws {
    try await withTemporaryDirectory { (dir: URL) async throws -> Void in
        let path = dir.appendingPathComponent("kitchen.db").path
        let store = try await offPool {
            try SQLiteOrderStore(options: DatabaseOptions(path: path), settings: storeSettings, clock: clock,
                                 logger: testLogger("ticketd.store"))
        }
        let box = KitchenSettingsBox(kitchenSettings)
        var factory: (@Sendable (KitchenSettings.HandlerKind) -> any CookingHandler)?
        if let handler { factory = { @Sendable _ in handler } }
        let kitchen = Kitchen(store: store, settings: box, estimator: CookTimeEstimator(),
                              metrics: NOOPMetricsHandler.instance, logger: testLogger("ticketd.kitchen"),
                              handlerFactory: factory)
        let env = KitchenEnv(store: store, kitchen: kitchen, settings: box, directory: dir, path: path,
                             launch: Gate(), returned: Gate())
        try await withThrowingTaskGroup(of: Void.self) { (group: inout ThrowingTaskGroup<Void, any Error>) async throws -> Void in
            group.addTask { await store.run() }
            group.addTask {
                await env.launch.wait()
                await kitchen.run()
                env.returned.open()
            }
            var failure: (any Error)?
            do {
                if startKitchen { try await env.startKitchen() }
                try await body(env)
            } catch {
                failure = error
            }
            do {
                try await env.stopKitchen()
            } catch {
                failure = failure ?? error
                group.cancelAll()  // a kitchen that does not stop must not hang the suite
            }
            store.stop()
            try await group.waitForAll()
            if let failure { throw failure }
        }
        try await offPool { try store.close() }
    }
}

// MARK: - Handlers

/// Records what it cooks, in order. The first order it gets blocks until `release()`; orders
/// whose id is in `failFirstAttempt` fail their first attempt.
final class RecordingHandler: CookingHandler {
    private let log = Mutex<[Int64]>([])
    private let failOnce = Mutex<Set<Int64>>([])
    private let gate = Gate()

    init() {}

    var cooked: [Int64] { log.withLock { $0 } }

    func release() { gate.open() }

    func failFirstAttempt(of id: Int64) { _ = failOnce.withLock { $0.insert(id) } }

    func cook(_ order: Order) async throws {
        let first = log.withLock { $0.append(order.id); return $0.count == 1 }
        if first {
            await gate.wait()
            try Task.checkCancellation()
        }
        if failOnce.withLock({ $0.remove(order.id) }) != nil {
            throw CookingFailure("order \(order.id) burnt on purpose")
        }
    }
}

/// Counts the cooks inside it at once; each stays until the current phase's gate opens.
final class ConcurrencyHandler: CookingHandler {
    private struct State {
        var inside = 0
        var most = 0
        var gate = Gate()
        var cooks: [Int64] = []
    }
    private let state = Mutex(State())

    init() {}

    var inside: Int { state.withLock { $0.inside } }
    /// The most cooks inside at once since the last `nextPhase()`.
    var most: Int { state.withLock { $0.most } }

    /// Lets every cook inside (and every later one in this phase) go.
    func release() { state.withLock { $0.gate }.open() }

    /// A new phase: a closed gate and a fresh maximum.
    func nextPhase() { state.withLock { $0.gate = Gate(); $0.most = $0.inside } }

    func cook(_ order: Order) async throws {
        let gate = state.withLock { s -> Gate in
            s.inside += 1
            s.most = max(s.most, s.inside)
            s.cooks.append(order.id)
            return s.gate
        }
        defer { state.withLock { $0.inside -= 1 } }
        await gate.wait()
        try Task.checkCancellation()
    }
}

/// Waits (cancellably) for a long time: what a shutdown must hand back.
struct SlowHandler: CookingHandler {
    var seconds: Double = 30
    func cook(_ order: Order) async throws {
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
    }
}

/// Cooks for a long time and counts the cooks it started and those that were stopped
/// (cancelled) before finishing.
final class StoppableHandler: CookingHandler {
    private let counts = Mutex<(entered: Int, stopped: Int)>((0, 0))

    init() {}

    var entered: Int { counts.withLock { $0.entered } }
    var stopped: Int { counts.withLock { $0.stopped } }

    func cook(_ order: Order) async throws {
        counts.withLock { $0.entered += 1 }
        do {
            try await Task.sleep(for: .seconds(30))
        } catch {
            counts.withLock { $0.stopped += 1 }
            throw error
        }
    }
}
