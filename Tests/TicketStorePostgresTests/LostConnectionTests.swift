import PostgresNIO
import Testing
import TicketCore
import TicketStore
import TicketTestSupport
@testable import TicketStorePostgres

/// postgres-nio can leave a query waiting for good when its connection closes under it (seen
/// after `pg_ctl restart -m immediate`): a writer, a cook and the daemon's shutdown then waited
/// forever. These hold the store's watchdogs to their word with a body that never returns, so
/// that they do not depend on when that library bug strikes.
@Suite("PostgreSQL: a connection lost under a query", .timeLimit(.minutes(1)))
struct LostConnectionTests {
    @Test("a read whose connection closes under a query that never returns fails within seconds; the pool serves the next")
    func readOnLostConnection() async throws {
        try await withPostgresStore(try await PostgresTestDatabase.fresh()) { store in
            let start = ContinuousClock.now
            await #expect(throws: StoreError.self) {
                _ = try await store.pool.withConnection { connection -> Int in
                    try await connection.close()
                    await Self.never()
                    return 0
                }
            }
            #expect(ContinuousClock.now - start < .seconds(5), "failed after \(ContinuousClock.now - start)")
            let next = try await store.pool.scalar("SELECT 1", as: Int32.self)
            #expect(next == 1)
        }
    }

    @Test("a write batch whose connection closes under it is abandoned: its request gets 503 within seconds, later writes commit")
    func writeOnLostConnection() async throws {
        try await withPostgresStore(try await PostgresTestDatabase.fresh()) { store in
            let start = ContinuousClock.now
            await #expect(throws: StoreError.unavailable("the database connection was lost mid-batch (if it was committing, the write may have been saved; a retry with the same Idempotency-Key is safe)")) {
                try await store.writer.write { connection, _ in
                    try await connection.close()
                    await Self.never()
                }
            }
            #expect(ContinuousClock.now - start < .seconds(5), "failed after \(ContinuousClock.now - start)")
            let placed = try await store.place(order())
            let after = try await store.order(id: placed.order.id)
            #expect(after?.status == .queued)
        }
    }

    @Test("a batch failed by a connection lost once COMMIT was sent says the write may have been saved; lost before it, or refused, it does not")
    func commitOutcomeUnknown() async throws {
        struct Lost: Error {}
        try await withPostgresStore(try await PostgresTestDatabase.fresh()) { store in
            try await store.pool.withConnection { connection in
                let refused = StoreError.unavailable("the batch's COMMIT answered ROLLBACK")
                #expect(PostgresWriter.reason(refused, commitSent: true, connection: connection)
                        == "the batch's COMMIT answered ROLLBACK")
                try await connection.close()
                #expect(!PostgresWriter.reason(Lost(), commitSent: false, connection: connection).contains("may have been saved"))
                let unknown = PostgresWriter.reason(Lost(), commitSent: true, connection: connection)
                #expect(unknown.hasPrefix("the connection was lost during the commit"))
                #expect(unknown.contains("the write may have been saved; a retry with the same Idempotency-Key is safe"))
            }
        }
    }

    /// Outlasts the test, as a query that never returns does (nothing cancels the task it runs in).
    static func never() async {
        try? await Task.sleep(for: .seconds(3600))
    }
}
