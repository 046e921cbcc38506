// Store benchmark: placements one at a time vs. 64 concurrent (group commit), claims with
// 1,000,000 finished orders in the table, and position queries. Run in release:
//   swift run -c release ticketd-bench [--finished 1000000]
// Prints one `name=value` line per figure.
import Foundation
import GRDB
import TicketCore
import TicketStore
import TicketStoreSQLite

struct Bench {
    var finished = 1_000_000
    var sequential = 1_000
    var concurrentTotal = 20_000
    var concurrency = 64
    var queuedForClaims = 20_000
    var positionQueries = 100_000

    static func parse(_ args: [String]) -> Bench {
        var b = Bench()
        var i = 0
        while i < args.count {
            let value = i + 1 < args.count ? Int(args[i + 1]) : nil
            switch args[i] {
            case "--finished": b.finished = value ?? b.finished; i += 1
            case "--sequential": b.sequential = value ?? b.sequential; i += 1
            case "--concurrent": b.concurrentTotal = value ?? b.concurrentTotal; i += 1
            case "--queued": b.queuedForClaims = value ?? b.queuedForClaims; i += 1
            case "--positions": b.positionQueries = value ?? b.positionQueries; i += 1
            default: break
            }
            i += 1
        }
        return b
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func report(_ name: String, _ value: Double, _ unit: String = "") {
    let text = "\(name)=\(String(format: "%.0f", value))\(unit.isEmpty ? "" : " # \(unit)")\n"
    FileHandle.standardOutput.write(Data(text.utf8))
}

let bench = Bench.parse(Array(CommandLine.arguments.dropFirst()))
let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ticketd-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: dir) }
let path = dir.appendingPathComponent("bench.db").path
let store = try SQLiteOrderStore(options: DatabaseOptions(path: path, synchronous: .full),
                           settings: StoreSettings(maxNumber: 1_000_000_000, maxQueued: 1_000_000_000))
let line = [OrderLine(item: "cheeseburger", quantity: 1)]
let clock = ContinuousClock()

print("# ticketd store benchmark: synchronous=FULL, WAL, \(ProcessInfo.processInfo.activeProcessorCount) cores")
try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { await store.run() }

    // 1. One placement at a time: each waits for its own commit (one fsync each).
    var start = clock.now
    for _ in 0..<bench.sequential {
        _ = try await store.place(NewOrder(items: line, cookSeconds: 4))
    }
    report("placements_sequential_per_s", Double(bench.sequential) / seconds(clock.now - start), "one at a time")

    // 2. 64 concurrent placers: requests pile up while a commit runs and share the next one.
    let batchesBefore = store.statistics.commits
    start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { placers in
        let each = bench.concurrentTotal / bench.concurrency
        for _ in 0..<bench.concurrency {
            placers.addTask {
                for _ in 0..<each { _ = try await store.place(NewOrder(items: line, cookSeconds: 4)) }
            }
        }
        try await placers.waitForAll()
    }
    let concurrentElapsed = seconds(clock.now - start)
    let batches = store.statistics.commits - batchesBefore
    report("placements_concurrent64_per_s", Double(bench.concurrentTotal) / concurrentElapsed, "64 concurrent")
    report("placements_concurrent64_per_commit", Double(bench.concurrentTotal) / Double(max(batches, 1)), "mean batch size")

    // 3. Fill the table with finished orders (bulk insert, outside the store), then claim.
    let queue = try DatabaseQueue(path: path)
    start = clock.now
    try await queue.write { db in
        try db.execute(sql: "UPDATE orders SET status = 'picked_up', finished_at = created_at WHERE status = 'queued'")
        try db.execute(sql: """
            WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
            INSERT INTO orders (ticket, number, status, priority, items, version, attempts, max_attempts,
                                cook_seconds, available_at, created_at, cooking_at, ready_at, finished_at)
            SELECT 'bench-' || x, 1 + x % 999, 'picked_up', 'normal', '[{"item":"fries","quantity":1}]', 4, 1, 3,
                   3, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z',
                   '2026-01-01T00:00:04.000Z', '2026-01-01T00:00:05.000Z'
            FROM n
            """, arguments: [bench.finished])
    }
    try queue.close()
    report("bulk_insert_finished_rows", Double(bench.finished), "rows in \(String(format: "%.1f", seconds(clock.now - start))) s")

    var queued: [Order] = []
    try await withThrowingTaskGroup(of: [Order].self) { placers in
        let each = bench.queuedForClaims / bench.concurrency
        for i in 0..<bench.concurrency {
            placers.addTask {
                var mine: [Order] = []
                for j in 0..<each {
                    let rush = (i + j) % 10 == 0
                    mine.append(try await store.place(NewOrder(items: line, priority: rush ? .rush : .normal, cookSeconds: 4)).order)
                }
                return mine
            }
        }
        for try await mine in placers { queued += mine }
    }

    // 4. Position queries on reader connections, 64 concurrent.
    let snapshot = queued
    start = clock.now
    try await withThrowingTaskGroup(of: Void.self) { readers in
        let each = bench.positionQueries / bench.concurrency
        for i in 0..<bench.concurrency {
            readers.addTask {
                for j in 0..<each {
                    let order = snapshot[(i * 7919 + j * 104_729) % snapshot.count]
                    _ = try await store.position(of: order)
                }
            }
        }
        try await readers.waitForAll()
    }
    report("position_queries_per_s", Double(bench.positionQueries) / seconds(clock.now - start),
           "\(snapshot.count) queued, \(bench.finished) finished")

    // 5. Claims with the finished rows in the table, 64 concurrent claimers until empty.
    start = clock.now
    let claimed = try await withThrowingTaskGroup(of: Int.self) { claimers in
        for i in 0..<bench.concurrency {
            claimers.addTask {
                var n = 0
                while try await store.claimNext(cook: "bench-\(i)", leaseSeconds: 30) != nil { n += 1 }
                return n
            }
        }
        var total = 0
        for try await n in claimers { total += n }
        return total
    }
    report("claims_per_s", Double(claimed) / seconds(clock.now - start), "\(claimed) claims, \(bench.finished) finished rows, 64 concurrent")

    store.stop()
    try await group.waitForAll()
}
try store.close()
