import Foundation
import Synchronization
import Testing
import TicketTestSupport

/// ticketd nodes (the real binary) on one PostgreSQL database, on loopback.
struct Node: Sendable {
    let process: TicketdProcess
    let port: Int
    var client: HTTPClient { HTTPClient(port: port) }
}

/// A set of nodes sharing one database, each in its own scratch directory with its own config.
final class NodeSet: Sendable {
    let url: String
    let scratch: ScratchDirectory
    private let nodes = Mutex<[String: Node]>([:])

    init(url: String, label: String) throws {
        self.url = url
        scratch = try ScratchDirectory(label)
        try scratch.write("admin-token", "e2e-token\n")
    }

    /// Starts node `name` with `cooks` cooks and the given extra YAML; returns once it listens.
    @discardableResult
    func start(_ name: String, cooks: Int, leaseSeconds: Double = 30, extra: String = "") throws -> Node {
        let config = try scratch.write("\(name).yaml", """
            node_id: \(name)
            admin_token_file: \(scratch.path("admin-token"))
            log_level: notice
            kitchen:
              lease_seconds: \(leaseSeconds)
              retry_base_seconds: 0.1
              retry_max_seconds: 0.5
            menu:
              - item: cola
                cook_seconds: 0
              - item: fries
                cook_seconds: 1
              - item: stew
                cook_seconds: 4
            \(extra)
            """)
        let process = try TicketdProcess(arguments: ["serve", "--listen", "127.0.0.1:0", "--db", url, "--config", config,
                                                     "--cooks", String(cooks)], directory: scratch.url)
        let port = try process.waitUntilListening(timeout: 30)
        let node = Node(process: process, port: port)
        nodes.withLock { $0[name] = node }
        return node
    }

    func node(_ name: String) -> Node? { nodes.withLock { $0[name] } }

    var all: [Node] { nodes.withLock { Array($0.values) } }

    /// SIGTERM to every node (SIGKILL after a grace), then the scratch directory goes.
    func stopAll() {
        for node in all { node.process.terminate(grace: 10) }
        scratch.remove()
    }

    var logs: String { all.map(\.process.log).joined(separator: "\n") }
}

/// What the operator API says of an order (the fields these tests read).
struct OperatorOrder: Decodable, Sendable {
    struct Event: Decodable, Sendable {
        let from: String?
        let to: String
        let detail: String?
    }
    let id: Int
    let status: String
    let attempts: Int
    let events: [Event]?
}

struct OrderList: Decodable, Sendable {
    let orders: [OperatorOrder]
}

struct TicketTimes: Decodable, Sendable {
    let ticket: String
    let status: String
    let version: Int
    let cooking_at: String?
    let ready_at: String?
}

/// Milliseconds since the epoch of an RFC 3339 time as ticketd writes it.
func epochMilliseconds(_ text: String) -> Double? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.date(from: text).map { $0.timeIntervalSince1970 * 1000 }
}

let adminHeaders = [("Authorization", "Bearer e2e-token")]

/// A value behind a lock that tasks share.
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending Value) -> sending R) -> sending R { mutex.withLock(body) }
}

@Suite("PostgreSQL: several ticketd nodes on one database", .serialized, .timeLimit(.minutes(3)))
struct PostgresNodesTests {
    @Test("an order placed on node 1 is long-polled on node 2 (released within 100 ms) and cooked by node 3")
    func threeNodes() async throws {
        let cluster = try await PostgresCluster.shared()
        let nodes = try NodeSet(url: cluster.url(try await cluster.emptyDatabase()), label: "pg-three")
        defer { nodes.stopAll() }
        let one = try nodes.start("n1", cooks: 0)
        let two = try nodes.start("n2", cooks: 0)
        let three = try nodes.start("n3", cooks: 1)

        let placed: TicketBody = try await one.client.placeOrder([("fries", 1)]).decode()
        var version = placed.version
        var statuses: [String] = []
        var latencies: [Double] = []
        // Long polls on node 2, each for a change beyond the version it has, until ready.
        while statuses.last != "ready" {
            let polled = try await two.client.get("/v1/tickets/\(placed.ticket)?wait=20&version=\(version)", timeout: 30)
            let released = Date().timeIntervalSince1970 * 1000
            #expect(polled.status == 200)
            let body: TicketTimes = try polled.decode()
            #expect(body.version > version, "released by a change")
            // A change that committed while the poll waited (not one already there when it came).
            if body.status == "ready", let at = body.ready_at.flatMap(epochMilliseconds) { latencies.append(released - at) }
            version = body.version
            statuses.append(body.status)
        }
        #expect(statuses.last == "ready")
        let latency = try #require(latencies.first, "the poll waited for ready")
        #expect(latency < 100, "released \(latency) ms after the commit on node 3\n\(nodes.logs)")
        // Node 3 is the only node with cooks.
        let read: TicketBody = try await three.client.get("/v1/tickets/\(placed.ticket)").decode()
        #expect(read.status == "ready")
    }

    @Test("a node killed with SIGKILL mid-cook: its lease runs out, another node cooks the order, exactly one ready")
    func killedMidCook() async throws {
        let cluster = try await PostgresCluster.shared()
        let nodes = try NodeSet(url: cluster.url(try await cluster.emptyDatabase()), label: "pg-kill")
        defer { nodes.stopAll() }
        let one = try nodes.start("n1", cooks: 0)
        let three = try nodes.start("n3", cooks: 1, leaseSeconds: 2)
        let placed: TicketBody = try await one.client.placeOrder([("stew", 1)]).decode()
        let cooking = try await waitFor("node 3 to cook the order", timeout: .seconds(20), poll: .milliseconds(50)) { () -> TicketBody? in
            let body: TicketBody = try await one.client.get("/v1/tickets/\(placed.ticket)").decode()
            return body.status == "cooking" ? body : nil
        }
        #expect(cooking.version == 2)
        three.process.signal(SIGKILL)
        _ = try await three.process.waitForExit(timeout: 10)
        // Another node with cooks; it does not hand back node 3's lease (not its own): the lease
        // runs out, the sweeper requeues the order, and this node cooks it.
        try nodes.start("n4", cooks: 1, leaseSeconds: 2)
        let ready = try await waitFor("the order to be cooked by another node", timeout: .seconds(40), poll: .milliseconds(100)) { () -> TicketBody? in
            let body: TicketBody = try await one.client.get("/v1/tickets/\(placed.ticket)").decode()
            return body.status == "ready" ? body : nil
        }
        #expect(ready.status == "ready")
        let list = try await one.client.get("/v1/orders?status=ready", headers: adminHeaders)
        let orders = try list.decode(OrderList.self).orders
        let id = try #require(orders.first?.id)
        let detail: OperatorOrder = try await one.client.get("/v1/orders/\(id)", headers: adminHeaders).decode()
        let events = detail.events ?? []
        #expect(events.filter { $0.to == "ready" }.count == 1, "exactly one ready: \(events)")
        #expect(events.contains { $0.detail?.contains("expired") == true }, "requeued when the lease ran out: \(events)")
        #expect(detail.attempts == 2)
    }

    @Test("pg_ctl restart -m immediate under load: nothing acknowledged is lost, every node serves within 10 s")
    func databaseRestart() async throws {
        let cluster = try await PostgresCluster.startPrivate()
        defer { cluster.stop() }
        let database = try await cluster.emptyDatabase()
        let nodes = try NodeSet(url: cluster.url(database), label: "pg-restart")
        defer { nodes.stopAll() }
        let ports = try ["n1", "n2", "n3"].map { try nodes.start($0, cooks: 1).port }
        // Each acknowledged ticket with the node that placed it and when its answer came.
        let acknowledged = Shared<[(ticket: String, port: Int, at: ContinuousClock.Instant)]>([])
        let refused = Shared<[Int: Int]>([:])
        let stop = Shared(false)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var i = worker
                        while !stop.withLock({ $0 }) {
                            i += 1
                            let port = ports[i % ports.count]
                            if let r = try? await HTTPClient(port: port).placeOrder([("cola", 1)]) {
                                if r.status == 202, let t = try? r.decode(TicketBody.self) {
                                    let at = ContinuousClock.now
                                    acknowledged.withLock { $0.append((t.ticket, port, at)) }
                                } else {
                                    refused.withLock { $0[r.status, default: 0] += 1 }
                                }
                            }
                        }
                    }
                }
            }
        }
        try await waitUntil("some orders acknowledged before the restart", timeout: .seconds(30), poll: .milliseconds(50)) {
            acknowledged.withLock { $0.count } >= 50
        }
        let down = ContinuousClock.now
        try await cluster.restartImmediately()
        let back = ContinuousClock.now
        for port in ports {
            try await waitUntil("node on \(port) ready again", timeout: .seconds(10), poll: .milliseconds(50)) {
                (try? await HTTPClient(port: port).get("/readyz", timeout: 2))?.status == 200
            }
        }
        let serving = ContinuousClock.now - back
        #expect(serving < .seconds(10), "every node ready \(serving) after the database came back")
        let before = acknowledged.withLock { $0.count }
        try await waitUntil("orders acknowledged after the restart", timeout: .seconds(20), poll: .milliseconds(50)) {
            acknowledged.withLock { $0.count } >= before + 50
        }
        stop.withLock { $0 = true }
        await load.value
        let tickets = acknowledged.withLock { $0 }
        // Durable: every acknowledged order is in the database, read with psql, past the nodes.
        // One read: each ticket's "id|status", also what a lookup that failed is set beside.
        var stored: [String: String] = [:]
        for line in try await offPool({ try cluster.psql("SELECT ticket, id, status FROM orders", database: database) })
            .split(separator: "\n") {
            let fields = line.split(separator: "|", maxSplits: 1)
            if fields.count == 2 { stored[String(fields[0])] = String(fields[1]) }
        }
        let lost = Set(tickets.map(\.ticket)).subtracting(stored.keys)
        #expect(lost.isEmpty, "\(lost.count) of \(tickets.count) acknowledged orders are not in the database: \(lost.sorted())")
        // Served: every node answers for each of them.
        var missing: [String] = []
        for (i, placed) in tickets.enumerated() {
            let port = ports[i % ports.count]
            let r = try await HTTPClient(port: port).get("/v1/tickets/\(placed.ticket)")
            guard r.status != 200 else { continue }
            // What is known of it: the answer, its row in the database, and when it was placed
            // against the restart (negative: before the database went down).
            let again = try? await HTTPClient(port: port).get("/v1/tickets/\(placed.ticket)")
            missing.append("""
                \(placed.ticket): \(r.status) \(String(decoding: r.body.prefix(200), as: UTF8.self)) from :\(port); \
                again: \(again.map { String($0.status) } ?? "no answer"); \
                placed via :\(placed.port) at \(placed.at - down) from the restart (back after \(back - down)); \
                row: [\(stored[placed.ticket] ?? "")]
                """)
        }
        #expect(missing.isEmpty, "\(missing.count) of \(tickets.count) acknowledged orders were not served: \(missing)")
        let codes = refused.withLock { $0 }
        #expect(codes.keys.allSatisfy { $0 == 503 }, "only 503 while the database was away: \(codes)")
    }
}
