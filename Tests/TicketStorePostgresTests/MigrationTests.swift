import Testing
import TicketCore
import TicketStore
import TicketTestSupport
@testable import TicketStorePostgres

@Suite("PostgreSQL: migrations of a database in use", .timeLimit(.minutes(1)))
struct MigrationTests {
    @Test("0002 moves the last number given from the counter row to the sequence: numbering goes on from it")
    func numbersGoOnAfterTheSequenceMigration() async throws {
        let cluster = try await PostgresCluster.shared()
        let name = try await cluster.emptyDatabase()
        // A database as a ticketd of 0001 left it: number 7 given last and still live, 8 live too
        // (handed out before a wrap).
        let first = try #require(PostgresMigrations.all.first { $0.identifier == "0001_initial" })
        var script = "BEGIN;\n"
        for statement in SQLScript.statements(first.sql) { script += statement + ";\n" }
        script += """
            CREATE TABLE ticketd_migrations (identifier text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO ticketd_migrations (identifier) VALUES ('0001_initial');
            INSERT INTO orders (ticket, number, status, priority, items, max_attempts, available_at, created_at)
            VALUES ('old-7', 7, 'queued', 'normal', '[]', 3, now(), now()),
                   ('old-8', 8, 'queued', 'normal', '[]', 3, now(), now());
            UPDATE ticket_counter SET last_number = 7;
            COMMIT;
            """
        let setup = script
        try await offPool { try cluster.psql(setup, database: name) }
        let options = PostgresTestDatabase.options(cluster: cluster, database: name, clock: nil, node: "upgraded")
        try await withPostgresStore(options, settings: StoreSettings(maxNumber: 10, maxQueued: 100)) { store in
            let probe = PostgresProbe(store: store)
            #expect(try await probe.tableCounts().lastNumber == 7)
            var numbers: [Int] = []
            for _ in 0..<3 { numbers.append(try await store.place(order()).order.number) }
            #expect(numbers == [9, 10, 1], "after 7 comes 8 (live), then 9, 10 and round to 1")
            #expect(try await probe.tableCounts().lastNumber == 1)
        }
    }
}

@Suite("PostgreSQL: prepared statements")
struct PreparedStatementTests {
    @Test("a customer's cancel, a pickup, an expiry and an operator's cancel of a queued or ready order share the prepared text")
    func finishTransitionsShareOneText() throws {
        #expect(!FinishOrder.sql.isEmpty)
        let cases: [(OrderEvent, OrderStatus)] = [(.cancel, .queued), (.pickup, .ready), (.expire, .ready),
                                                  (.operatorCancel, .queued), (.operatorCancel, .ready)]
        for (event, status) in cases {
            guard case .success(let t) = Lifecycle.apply(event, to: status) else {
                Issue.record("\(event) from \(status) is refused")
                continue
            }
            let b = PostgresOrderStore.transitionStatement(t, orderID: 7, status: status, version: 3, leaseToken: nil,
                                                          leaseMustHold: false, detail: "x", inputs: Transition.Inputs(),
                                                          timing: PostgresOrderStore.Timing(), now: nil, nodeID: "n")
            #expect(b.sql == FinishOrder.sql, "\(event) from \(status)")
        }
        // One that releases a lease has a text of its own.
        guard case .success(let cooking) = Lifecycle.apply(.operatorCancel, to: .cooking) else { return }
        let other = PostgresOrderStore.transitionStatement(cooking, orderID: 7, status: .cooking, version: 3, leaseToken: nil,
                                                          leaseMustHold: false, detail: "x", inputs: Transition.Inputs(),
                                                          timing: PostgresOrderStore.Timing(), now: nil, nodeID: "n")
        #expect(other.sql != FinishOrder.sql)
        // A customer's cancel and pickup straight at the ticket share the other prepared text.
        for (event, status) in [(OrderEvent.cancel, OrderStatus.queued), (.pickup, .ready)] {
            guard case .success(let t) = Lifecycle.apply(event, to: status) else { continue }
            let b = PostgresOrderStore.transitionStatement(t, target: .ticket("abc"), status: status, leaseToken: nil,
                                                          leaseMustHold: false, detail: "x", inputs: Transition.Inputs(),
                                                          timing: PostgresOrderStore.Timing(), now: nil, nodeID: "n")
            #expect(b.sql == FinishByTicket.sql, "\(event) from \(status)")
        }
    }
}
