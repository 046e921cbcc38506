import PostgresNIO
import Synchronization
import Testing
import TicketCore
import TicketStore
import TicketTestSupport
import TicketWaiting
@testable import TicketStorePostgres

/// Two nodes on one database: each a store of its own (its own pool, writer, LISTEN session and
/// change feed), as two ticketd processes would be.
func withTwoNodes(settings: StoreSettings = StoreSettings(),
                  _ body: (PostgresOrderStore, PostgresOrderStore) async throws -> Void) async throws {
    let a = try await PostgresTestDatabase.fresh(node: "node-a")
    let b = PostgresTestDatabase.sameDatabase(as: a, node: "node-b")
    try await withPostgresStore(a, settings: settings) { storeA in
        try await withPostgresStore(b, settings: settings) { storeB in
            try await waitUntil("both nodes listen") { storeA.isListening && storeB.isListening }
            try await body(storeA, storeB)
        }
    }
}

@Suite("PostgreSQL: several nodes on one database", .timeLimit(.minutes(2)))
struct NodesTests {
    @Test("a long poll on node B is released by a change committed on node A")
    func crossNodeLongPoll() async throws {
        try await withTwoNodes { a, b in
            let placed = try await a.place(order()).order
            // B reads the ticket first, as a long poll does, then waits beyond its version.
            let waiter = b.changes.waiter(ticket: placed.ticket)
            let read = try #require(try await b.ticket(placed.ticket))
            #expect(read.order.version == 1)
            let start = ContinuousClock.now
            async let outcome = waiter.wait(beyond: 1, until: .now + .seconds(20))
            _ = try #require(try await a.claimNext(cook: "a-cook", leaseSeconds: 30))
            #expect(await outcome == .changed)
            #expect(waiter.change?.status == .cooking)
            #expect(waiter.change?.version == 2)
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(b.noticeReads.load(ordering: .relaxed) >= 1, "the watched order was read on B")
            waiter.close()
        }
    }

    @Test("an idle claim on node B takes an order placed on node A, woken by the notification")
    func crossNodeWork() async throws {
        try await withTwoNodes { a, b in
            let claimed = Task { try await b.claim(cook: "b-cook", leaseSeconds: 30, limit: 1, until: .now + .seconds(20)) { true } }
            try await waitUntil("B's cook waits for work") { b.changes.workWaiterCount > 0 }
            let placed = try await a.place(order()).order
            let claims = try await claimed.value
            #expect(claims.map(\.order.id) == [placed.id])
            #expect(try await a.order(id: placed.id)?.status == .cooking)
        }
    }

    @Test("node B's listeners to every commit follow node A's commits from the notification alone, ready times included")
    func commitListenersAcrossNodes() async throws {
        try await withTwoNodes { a, b in
            let commits = b.changes.commits()
            let placed = try await a.place(order()).order
            let claim = try #require(try await a.claimNext(cook: "a-cook", leaseSeconds: 30))
            let ready = try await a.markReady(orderID: placed.id, lease: claim.lease)
            var seen: [OrderChange] = []
            for await changes in commits {
                seen += changes
                if seen.contains(where: { $0.status == .ready }) { break }
            }
            #expect(seen.map(\.status) == [.queued, .cooking, .ready])
            #expect(seen.map(\.version) == [1, 2, 3])
            #expect(seen.last == OrderChange(ready))
            #expect(seen.last?.waitMilliseconds != nil && seen.last?.cookMilliseconds != nil)
            #expect(b.noticeReads.load(ordering: .relaxed) == 0, "no order was read on B: nobody waits on it there")
        }
    }

    @Test("the queue index of each node follows the other node's commits; positions agree with a count")
    func positionsAcrossNodes() async throws {
        try await withTwoNodes { a, b in
            var orders: [Order] = []
            for i in 0..<20 {
                let node = i % 2 == 0 ? a : b
                orders.append(try await node.place(order(priority: i % 5 == 0 ? .rush : .normal)).order)
            }
            _ = try await b.claimNext(cook: "c", leaseSeconds: 30, limit: 3)
            for node in [a, b] {
                try await waitUntil("the queue index holds the other node's commits") { node.queuedCount == 17 }
                for o in orders {
                    guard let state = try await node.ticket(o.ticket), state.order.status == .queued else { continue }
                    #expect(state.position == (try await node.countedPosition(of: state.order)))
                }
            }
        }
    }

    @Test("numbers stay unique among live orders and in order, whichever node takes the order")
    func numbersAcrossNodes() async throws {
        try await withTwoNodes(settings: StoreSettings(maxNumber: 50, maxQueued: 1000)) { a, b in
            let byNode = try await withThrowingTaskGroup(of: (Int, Order).self) { group in
                for i in 0..<40 {
                    group.addTask { (i % 2, try await (i % 2 == 0 ? a : b).place(order()).order) }
                }
                return try await group.reduce(into: [(Int, Order)]()) { $0.append($1) }
            }
            let placed = byNode.map(\.1)
            // Each number once, from the last one given: 1…40 between them. The two nodes' batches
            // take numbers from one sequence while both run, so across nodes numbers follow the
            // order they were taken in, not the commits; within one node they follow its commits.
            #expect(placed.map(\.number).sorted() == Array(1...40))
            for node in 0..<2 {
                let own = byNode.filter { $0.0 == node }.map(\.1).sorted { $0.id < $1.id }
                #expect(own.map(\.number) == own.map(\.number).sorted(), "node \(node)'s numbers in its commit order")
            }
            // Wrapping: 41…50, then the first free ones after cancelling some.
            for n in [3, 5] {
                let o = try #require(placed.first { $0.number == n })
                _ = try await b.cancel(ticket: o.ticket)
            }
            var next: [Int] = []
            for i in 0..<12 { next.append(try await (i % 2 == 0 ? b : a).place(order()).order.number) }
            #expect(next == Array(41...50) + [3, 5])
            await #expect(throws: StoreError.numbersExhausted) { try await a.place(order()) }
        }
    }

    @Test("an Idempotency-Key replayed on the other node returns the first answer")
    func idempotencyAcrossNodes() async throws {
        try await withTwoNodes { a, b in
            let key = IdempotencyKey(key: "k-1", requestHash: "h")
            let first = try await a.place(order(), idempotency: key)
            let again = try await b.place(order(), idempotency: key)
            #expect(again.replayed)
            #expect(again.order.id == first.order.id)
            #expect(again.response == first.response)
            await #expect(throws: StoreError.idempotencyKeyReused) {
                try await b.place(order(), idempotency: IdempotencyKey(key: "k-1", requestHash: "other"))
            }
            // Both at once: one order, one answer.
            let both = try await withThrowingTaskGroup(of: Placement.self) { group in
                for node in [a, b, a, b] {
                    group.addTask { try await node.place(order(), idempotency: IdempotencyKey(key: "k-2", requestHash: "h")) }
                }
                return try await group.reduce(into: [Placement]()) { $0.append($1) }
            }
            #expect(Set(both.map(\.order.id)).count == 1)
            #expect(both.filter { !$0.replayed }.count == 1)
            #expect(Set(both.map { $0.response ?? [] }).count == 1)
        }
    }

    @Test("claims on two nodes never take one order twice")
    func claimsSkipLocked() async throws {
        try await withTwoNodes(settings: StoreSettings(maxNumber: 999, maxQueued: 1000)) { a, b in
            for _ in 0..<60 { _ = try await a.place(order()) }
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for i in 0..<8 {
                    group.addTask {
                        var ids: [Int64] = []
                        let node = i % 2 == 0 ? a : b
                        while true {
                            let claims = try await node.claimNext(cook: "c\(i)", leaseSeconds: 30, limit: 3)
                            if claims.isEmpty { return ids }
                            ids += claims.map(\.order.id)
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 60)
            #expect(Set(claimed).count == 60)
        }
    }

    @Test("one node runs the sweeps; when its session ends another takes over")
    func oneSweeper() async throws {
        let a = try await PostgresTestDatabase.fresh(node: "node-a")
        let b = PostgresTestDatabase.sameDatabase(as: a, node: "node-b")
        try await withPostgresStore(b) { storeB in
            try await withPostgresStore(a) { storeA in
                #expect(await storeB.holdsSweeperRole())
                #expect(await !storeA.holdsSweeperRole())
            }
            // A is gone too; B still holds it. Now B's session is cut: another store takes over.
            try await withPostgresStore(PostgresTestDatabase.sameDatabase(as: a, node: "node-c")) { storeC in
                #expect(await !storeC.holdsSweeperRole())
                try await terminateListener(of: storeB)
                try await waitUntil("node C takes the sweeps over", timeout: .seconds(10)) { await storeC.holdsSweeperRole() }
            }
        }
    }

    @Test("a store released without close() still ends its session: the same node_id opens again")
    func releasedWithoutClose() async throws {
        let options = try await PostgresTestDatabase.fresh(node: "node-a")
        do {
            // Opened and dropped, never run nor closed (as by a caller that failed in between).
            let dropped = try await PostgresOrderStore.open(options: options)
            #expect(dropped.handedBackAtOpen.isEmpty)
        }
        // Refused while the dropped store's session holds the node's lock (3 s of waiting).
        try await withPostgresStore(options) { store in
            let placed = try await store.place(order())
            #expect(placed.order.number == 1)
        }
    }

    @Test("a second node with the same node_id is refused; a restart hands back only its own leases")
    func nodeIdentity() async throws {
        let a = try await PostgresTestDatabase.fresh(node: "node-a")
        let b = PostgresTestDatabase.sameDatabase(as: a, node: "node-b")
        var ownID: Int64 = 0
        var otherID: Int64 = 0
        try await withPostgresStore(a) { storeA in
            await #expect(throws: StoreOpenError.self) { _ = try await PostgresOrderStore.open(options: a) }
            try await withPostgresStore(b) { storeB in
                ownID = try await storeA.place(order()).order.id
                otherID = try await storeA.place(order()).order.id
                _ = try #require(try await storeA.claimNext(cook: "a-cook", leaseSeconds: 300))
                _ = try #require(try await storeB.claimNext(cook: "b-cook", leaseSeconds: 300))
            }
        }
        // Node A starts again while B's lease is still running: only A's order goes back.
        try await withPostgresStore(a) { storeA in
            let own = try await storeA.order(id: ownID)
            let other = try await storeA.order(id: otherID)
            #expect(storeA.handedBackAtOpen.map(\.id) == [ownID])
            #expect(own?.status == .queued)
            #expect(other?.status == .cooking)
        }
    }

    @Test("a lost LISTEN session is re-established, and a change made meanwhile releases the waiter")
    func listenReconnects() async throws {
        try await withTwoNodes { a, b in
            let placed = try await a.place(order()).order
            let waiter = b.changes.waiter(ticket: placed.ticket)
            _ = try await b.ticket(placed.ticket)
            try await terminateListener(of: b)
            // The change commits while B may not listen: the catch-up after the reconnect finds it.
            _ = try await a.cancel(ticket: placed.ticket)
            #expect(await waiter.wait(beyond: 1, until: .now + .seconds(20)) == .changed)
            // The change may have reached B before the wait began (B's session was not ended
            // yet): the wait then returns at once and the current state is read, as a long poll does.
            var seen = waiter.change
            if seen == nil { seen = try await b.ticket(placed.ticket)?.order }
            #expect(seen?.status == .cancelled)
            try await waitUntil("B listens again", timeout: .seconds(10)) { b.isListening }
            waiter.close()
        }
    }

    @Test("the sweep rebuilds a queue index that disagrees with the table, once its node is quiet")
    func driftRebuiltWhenQuiet() async throws {
        try await withTwoNodes { a, b in
            for _ in 0..<3 { _ = try await a.place(order()) }
            try await waitUntil("B's queue index holds A's orders") { b.queuedCount == 3 }
            // A queued row nobody announced (written behind every node's back).
            try await a.pool.withConnection { connection in
                try await connection.exec("""
                    INSERT INTO orders (ticket, number, status, priority, items, max_attempts, available_at, created_at)
                    VALUES ('behind-the-back', 900, 'queued', 'normal', '[]', 3, now(), now())
                    """, logger: a.logger)
            }
            // Busy (a change reached B's index just now): the sweep does not compare. (A sweep
            // that a slow machine starts too late to count as busy is skipped.)
            var known = 3
            for _ in 0..<2 {
                _ = try await a.place(order())
                known += 1
                try await waitUntil("B's queue index holds A's new order") { b.queuedCount == known }
                guard (b.queue.quietNanoseconds ?? .max) < PostgresOrderStore.driftQuiet / 2 else { continue }
                _ = try await b.sweepOutsideWrites()
            }
            #expect(b.queuedCount == known, "compared while busy")
            // Quiet: two sweeps that find the same disagreement rebuild it.
            try await waitUntil("B's queue index quiet") {
                (b.queue.quietNanoseconds ?? 0) > PostgresOrderStore.driftQuiet
            }
            _ = try await b.sweepOutsideWrites()
            _ = try await b.sweepOutsideWrites()
            #expect(b.queuedCount == known + 1)
        }
    }

    @Test("a payload past the limit becomes a reload marker; a node receiving one catches up")
    func reloadMarker() async throws {
        let many = (1...2000).map { ChangeNotice.Entry(id: Int64($0), version: 1, status: .queued, priority: .normal) }
        let payload = ChangeNotice(sender: "x", workAdded: true, entries: many).payload
        #expect(payload.utf8.count < 8000)
        #expect(ChangeNotice(payload: payload) == ChangeNotice(sender: "x", workAdded: true, entries: nil))
        var few = Array(many.prefix(3))
        few[1].status = .ready
        few[1].waitMilliseconds = 1_234
        few[1].cookMilliseconds = 56
        few[2].status = .ready
        few[2].waitMilliseconds = 7
        #expect(ChangeNotice(payload: ChangeNotice(sender: "x", workAdded: false, entries: few).payload)?.entries == few)
        try await withTwoNodes { a, b in
            for _ in 0..<30 { _ = try await a.place(order()) }
            try await waitUntil("B's queue index holds A's orders") { b.queuedCount == 30 }
            let epoch = b.changes.workEpoch
            try await a.pool.withConnection { connection in
                try await connection.exec("SELECT pg_notify('ticketd', 'someone w *')", logger: a.logger)
            }
            try await waitUntil("B catches up and wakes its cooks") { b.changes.workEpoch > epoch }
            #expect(b.queuedCount == 30)
        }
    }
}

/// Ends the store's LISTEN session from the server's side (as a network fault or a restart would).
func terminateListener(of store: PostgresOrderStore) async throws {
    let name = store.options.applicationName(role: "listen")
    let terminated = try await store.pool.withConnection { connection in
        try await connection.rows("""
            SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = \(name) AND datname = current_database()) t
            """, logger: store.logger) { try $0.decode(Int64.self) }.first ?? 0
    }
    #expect(terminated >= 1, "the LISTEN session was found and ended")
}
