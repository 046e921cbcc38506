import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
@testable import TicketHTTP
import TicketStore
import TicketTestSupport

extension RawHTTPConnection {
    /// The next event that carries data (skipping the `retry:` block and keep-alive comments),
    /// or nil once the stream ended. `comments` counts the comment blocks skipped.
    mutating func nextDataEvent(comments: inout Int) async throws -> ServerSentEvent? {
        while let event = try await nextEvent() {
            if !event.data.isEmpty { return event }
            if event.event == nil, event.id == nil { comments += 1 }
        }
        return nil
    }

    mutating func nextDataEvent() async throws -> ServerSentEvent? {
        var ignored = 0
        return try await nextDataEvent(comments: &ignored)
    }
}

/// `GET /v1/board/events` and `GET /v1/kitchen/events`: one producer, coalesced, generations.
@Suite("The board's and the kitchen's live feeds", .timeLimit(.minutes(1)))
struct LiveFeedTests {
    @Test("the board at once with retry:, then again after a change, id = generation")
    func boardOnConnectAndAfterChange() async throws {
        try await withAPI { h in
            let first = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    let head = try await connection.readHead()
                    #expect(head.status == .ok)
                    #expect(head.headers["Content-Type"].first == "text/event-stream")
                    let retry = try #require(try await connection.nextEvent())
                    #expect(retry.data.isEmpty && retry.id == nil, "the retry: hint comes first: \(retry)")
                    let board = try #require(try await connection.nextDataEvent())
                    #expect(board.event == "board")
                    #expect(board.json["preparing"].array?.compactMap(\.int) == [first.number])
                    #expect(board.json["ready"].array?.isEmpty == true)
                    #expect(board.json["preparing_count"].int == 1)
                    #expect(board.id == board.json["generation"].int64.map(String.init))
                    #expect(isRFC3339Millis(board.json["at"].string))
                    #expect(board.json["typical_wait_seconds"].isNull)

                    let claim = try await h.claim()
                    _ = try await h.store.markReady(orderID: first.id, lease: claim.lease)
                    let start = ContinuousClock.now
                    var next = try #require(try await connection.nextDataEvent())
                    while next.json["ready"].array?.compactMap(\.int) != [first.number] {
                        next = try #require(try await connection.nextDataEvent())
                    }
                    #expect(ContinuousClock.now - start < .seconds(1), "a change reaches the stream within a second")
                    #expect(try #require(next.json["generation"].int64) > board.json["generation"].int64 ?? .max)
                    #expect(next.json["preparing"].array?.isEmpty == true)
                    // The order that became ready counts in the typical wait.
                    #expect(next.json["typical_wait_seconds"].int != nil)
                }
            }
        }
    }

    @Test("a Last-Event-ID that is current gets nothing until the next change; any other gets the board")
    func lastEventID() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                let current = try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    _ = try await connection.readHead()
                    return try #require(try await connection.nextDataEvent())
                }
                let generation = try #require(current.id)
                // Current: the first event is the next change, not the board again.
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events", headers: [("Last-Event-ID", generation)])
                    #expect(try await connection.readHead().status == .ok)
                    let second = try await h.place()
                    let event = try #require(try await connection.nextDataEvent())
                    #expect(event.id != generation)
                    #expect(event.json["preparing"].array?.compactMap(\.int) == [order.number, second.number])
                }
                // Not current (another run's, or garbage): the board at once.
                for stale in ["1", "abc", "", String(UInt64.max)] {
                    try await RawHTTPConnection.with(port: port) { connection in
                        try await connection.sendGET("/v1/board/events", headers: [("Last-Event-ID", stale)])
                        #expect(try await connection.readHead().status == .ok)
                        let event = try #require(try await connection.nextDataEvent())
                        #expect(event.json["preparing"].array?.count == 2, "Last-Event-ID \(stale)")
                    }
                }
            }
        }
    }

    @Test("many changes in a burst are coalesced: a few events a second, the last one complete")
    func coalesced() async throws {
        try await withAPI { h in
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    _ = try await connection.readHead()
                    _ = try #require(try await connection.nextDataEvent())
                    let start = ContinuousClock.now
                    for _ in 0..<200 { try await h.place() }
                    var events = 0
                    var last = ServerSentEvent("")
                    while last.json["preparing_count"].int != 200 {
                        last = try #require(try await connection.nextDataEvent())
                        events += 1
                    }
                    let elapsed = (ContinuousClock.now - start).seconds
                    // At most one event per 250 ms (plus the one at the start of the burst).
                    #expect(Double(events) <= elapsed / 0.25 + 2, "\(events) events in \(elapsed) s")
                    #expect(last.json["preparing"].array?.count == 200)
                }
            }
        }
    }

    @Test("screens watching at once get the same event, computed once")
    func computedOnce() async throws {
        try await withAPI { h in
            try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { a in
                    try await RawHTTPConnection.with(port: port) { b in
                        try await a.sendGET("/v1/board/events")
                        try await b.sendGET("/v1/board/events")
                        _ = try await a.readHead()
                        _ = try await b.readHead()
                        let first = try #require(try await a.nextDataEvent())
                        let second = try #require(try await b.nextDataEvent())
                        // Same generation and the same computation time: one board for both.
                        #expect(first.id == second.id)
                        #expect(first.data == second.data)
                    }
                }
            }
        }
    }

    @Test("a comment line keeps an idle stream open; the stream ends after event_stream_max_seconds")
    func keepAliveAndMaxLifetime() async throws {
        try await withAPI(keepAliveSeconds: 0.2, eventStreamMaxSeconds: 1.5) { h in
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    _ = try await connection.readHead()
                    var comments = 0
                    _ = try #require(try await connection.nextDataEvent(comments: &comments))
                    let start = ContinuousClock.now
                    #expect(try await connection.nextDataEvent(comments: &comments) == nil, "the stream ends by itself")
                    #expect(comments >= 3, "\(comments) keep-alive comments")
                    #expect(ContinuousClock.now - start < .seconds(5))
                }
            }
            try await waitUntil("the stream to leave") { h.env.live.board.watchers == 0 }
        }
    }

    @Test("streams end at shutdown")
    func endsAtShutdown() async throws {
        try await withAPI { h in
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    _ = try await connection.readHead()
                    _ = try #require(try await connection.nextDataEvent())
                    h.env.live.stop()
                    #expect(try await connection.nextDataEvent() == nil)
                }
            }
        }
    }

    @Test("a client that goes away leaves at once")
    func clientLeaves() async throws {
        try await withAPI { h in
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    _ = try await connection.readHead()
                    _ = try #require(try await connection.nextDataEvent())
                    #expect(h.env.live.board.watchers == 1)
                }
                try await waitUntil("the stream to leave") { h.env.live.board.watchers == 0 }
            }
        }
    }

    @Test("the kitchen's stream needs the token and lists queued orders in claim order, then cooking ones")
    func kitchenFeed() async throws {
        try await withAPI { h in
            let normal = try await h.place()
            let rush = try await h.place(priority: .rush)
            try await h.test(.live) { client in
                let refused = try await client.execute(uri: "/v1/kitchen/events", method: .get)
                expectProblem(refused, .unauthorized)
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/kitchen/events", headers: [("Authorization", "Bearer \(APIHarness.token)")])
                    #expect(try await connection.readHead().status == .ok)
                    let first = try #require(try await connection.nextDataEvent())
                    #expect(first.event == "kitchen")
                    #expect(first.json["queued"].array?.compactMap { $0["id"].int64 } == [rush.id, normal.id])
                    #expect(first.json["queued_count"].int == 2)
                    #expect(first.json["queued"][0]["items"][0]["item"].string == "fries")

                    _ = try await h.store.claim(orderID: normal.id, cook: "screen-1", leaseSeconds: 30)
                    var next = try #require(try await connection.nextDataEvent())
                    while next.json["cooking"].array?.isEmpty != false {
                        next = try #require(try await connection.nextDataEvent())
                    }
                    #expect(next.json["queued"].array?.compactMap { $0["id"].int64 } == [rush.id])
                    #expect(next.json["cooking"][0]["lease_owner"].string == "screen-1")
                }
            }
        }
    }

    @Test("max_waiters counts the board's streams too")
    func maxWaiters() async throws {
        try await withAPI { h in
            h.env.update(settings: APISettings(menu: APIHarness.menu, adminToken: APIHarness.token, cooks: 1, maxWaiters: 1))
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/board/events")
                    _ = try await connection.readHead()
                    _ = try #require(try await connection.nextDataEvent())
                    let refused = try await client.execute(uri: "/v1/board/events", method: .get)
                    expectProblem(refused, .serviceUnavailable)
                    expectRetryAfter(refused)
                }
            }
        }
    }
}

/// The recent activity the board's typical wait and the console's charts come from.
@Suite("Activity of the last 15 minutes")
struct ActivityTests {
    @Test("a histogram's median is within its 5 % bins")
    func median() {
        var h = Activity.Histogram()
        for ms in [1_000, 2_000, 3_000, 4_000, 120_000] { h.add(milliseconds: Int64(ms)) }
        let median = h.quantileSeconds(0.5)
        #expect(median.map { abs($0 - 3) < 0.15 } == true, "\(String(describing: median))")
        #expect(Activity.Histogram().quantileSeconds(0.5) == nil)
    }
}
