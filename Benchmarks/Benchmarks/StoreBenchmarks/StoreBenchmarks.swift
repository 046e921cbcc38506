// Store micro-benchmarks: the group-commit writer and the queries behind the HTTP API, on a
// fresh SQLite file per benchmark (WAL, synchronous=FULL, as the daemon runs).
//   placement batch  64 placements at once: they share one commit (one fsync)
//   claim            claimNext, one at a time, from a queue of 20,000 orders
//   transition       markReady (cooking -> ready) of a claimed order, one at a time
//   position         position(of:) of the last of 10,000 queued orders (the slowest case)
import Benchmark
import Foundation
import Synchronization
import TicketCore
import TicketStore
import TicketStoreSQLite

/// One store on a temporary file, its writer running, and what a benchmark prepared.
final class Fixture: Sendable {
    let store: SQLiteOrderStore
    let directory: URL
    let writer: Task<Void, Never>
    let claims: [Claim]
    let lastQueued: Order?
    let next = Atomic<Int>(0)

    init(store: SQLiteOrderStore, directory: URL, writer: Task<Void, Never>, claims: [Claim] = [], lastQueued: Order? = nil) {
        self.store = store
        self.directory = directory
        self.writer = writer
        self.claims = claims
        self.lastQueued = lastQueued
    }

    static func open() throws -> (SQLiteOrderStore, URL, Task<Void, Never>) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ticketd-micro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteOrderStore(options: DatabaseOptions(path: directory.appendingPathComponent("micro.db").path, synchronous: .full),
                                   settings: StoreSettings(maxNumber: 1_000_000_000, maxQueued: 1_000_000_000))
        let writer = Task { await store.run() }
        return (store, directory, writer)
    }

    func close() async {
        store.stop()
        await writer.value
        try? store.close()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The fixtures still open, closed by the teardown hooks.
    static let openFixtures = Mutex<[Fixture]>([])

    static func register(_ fixture: Fixture) -> Fixture {
        openFixtures.withLock { $0.append(fixture) }
        return fixture
    }

    static func closeAll() async {
        let all = openFixtures.withLock { fixtures in
            defer { fixtures.removeAll() }
            return fixtures
        }
        for fixture in all { await fixture.close() }
    }
}

let line = [OrderLine(item: "cheeseburger", quantity: 1)]

/// Places `count` orders, 64 at a time (each wave shares a commit); returns them in id order.
func fill(_ store: SQLiteOrderStore, count: Int) async throws -> [Order] {
    var orders: [Order] = []
    var placed = 0
    while placed < count {
        let wave = min(64, count - placed)
        try await withThrowingTaskGroup(of: Order.self) { group in
            for i in 0..<wave {
                let rush = (placed + i) % 10 == 0
                group.addTask { try await store.place(NewOrder(items: line, priority: rush ? .rush : .normal, cookSeconds: 4)).order }
            }
            for try await order in group { orders.append(order) }
        }
        placed += wave
    }
    return orders.sorted { $0.id < $1.id }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 10,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )

    Benchmark("placement batch (64 concurrent)") { (benchmark: Benchmark, fixture: Fixture) async in
        for _ in benchmark.scaledIterations {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<64 {
                        group.addTask { _ = try await fixture.store.place(NewOrder(items: line, cookSeconds: 4)) }
                    }
                    try await group.waitForAll()
                }
            } catch {
                benchmark.error("placement failed: \(error)")
            }
        }
    } setup: {
        let (store, directory, writer) = try Fixture.open()
        return Fixture.register(Fixture(store: store, directory: directory, writer: writer))
    } teardown: {
        await Fixture.closeAll()
    }

    Benchmark("claim (20,000 queued)") { (benchmark: Benchmark, fixture: Fixture) async in
        for _ in benchmark.scaledIterations {
            do {
                guard try await fixture.store.claimNext(cook: "micro", leaseSeconds: 3600) != nil else {
                    benchmark.error("the queue ran dry")
                    return
                }
            } catch {
                benchmark.error("claim failed: \(error)")
            }
        }
    } setup: {
        let (store, directory, writer) = try Fixture.open()
        _ = try await fill(store, count: 20_000)
        return Fixture.register(Fixture(store: store, directory: directory, writer: writer))
    } teardown: {
        await Fixture.closeAll()
    }

    Benchmark("transition (cooking -> ready)") { (benchmark: Benchmark, fixture: Fixture) async in
        for _ in benchmark.scaledIterations {
            let i = fixture.next.add(1, ordering: .relaxed).oldValue
            guard i < fixture.claims.count else {
                benchmark.error("ran out of claimed orders")
                return
            }
            do {
                _ = try await fixture.store.markReady(orderID: fixture.claims[i].order.id, lease: fixture.claims[i].lease)
            } catch {
                benchmark.error("markReady failed: \(error)")
            }
        }
    } setup: {
        let (store, directory, writer) = try Fixture.open()
        _ = try await fill(store, count: 12_000)
        // Claim them all, 64 claimers at a time (claims share commits too).
        var claims: [Claim] = []
        try await withThrowingTaskGroup(of: [Claim].self) { group in
            for c in 0..<64 {
                group.addTask {
                    var mine: [Claim] = []
                    while let claim = try await store.claimNext(cook: "micro-\(c)", leaseSeconds: 3600) { mine.append(claim) }
                    return mine
                }
            }
            for try await mine in group { claims += mine }
        }
        return Fixture.register(Fixture(store: store, directory: directory, writer: writer, claims: claims))
    } teardown: {
        await Fixture.closeAll()
    }

    Benchmark("position (last of 10,000 queued)") { (benchmark: Benchmark, fixture: Fixture) async in
        for _ in benchmark.scaledIterations {
            do {
                blackHole(try await fixture.store.position(of: fixture.lastQueued!))
            } catch {
                benchmark.error("position failed: \(error)")
            }
        }
    } setup: {
        let (store, directory, writer) = try Fixture.open()
        let orders = try await fill(store, count: 10_000)
        // The last normal order: every rush order and every older normal one is ahead of it.
        let last = orders.last { $0.priority == .normal }
        return Fixture.register(Fixture(store: store, directory: directory, writer: writer, lastQueued: last))
    } teardown: {
        await Fixture.closeAll()
    }
}
