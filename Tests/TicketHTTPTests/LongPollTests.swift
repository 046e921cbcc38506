import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketTestSupport

/// `GET /v1/tickets/{ticket}?wait=S&version=V`. Run against a live server: a long poll watches
/// its connection, which only a live server has.
@Suite("Long poll", .timeLimit(.minutes(1)))
struct LongPollTests {
    @Test("a waiting poll answers within 100 ms of a change, with the new version")
    func answersOnChange() async throws {
        try await withAPI(alone: true) { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                async let pending = client.get("/v1/tickets/\(order.ticket)?wait=5&version=1")
                try await waitUntil("the poll to wait") { h.store.changes.subscriberCount == 1 }
                let start = ContinuousClock.now
                _ = try await h.claim()
                let response = try await pending
                let elapsed = ContinuousClock.now - start
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.headers[.eTag] == "\"v2\"")
                #expect(response.json["version"].int == 2)
                #expect(response.json["status"].string == "cooking")
                #expect(elapsed < .milliseconds(100), "answered \(elapsed.seconds) s after the change")
            }
            #expect(h.store.changes.subscriberCount == 0)
        }
    }

    @Test("without a change the poll answers 200 with the same version after wait")
    func timesOut() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let start = ContinuousClock.now
                let response = try await client.get("/v1/tickets/\(order.ticket)?wait=0.3&version=1")
                let elapsed = ContinuousClock.now - start
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.json["version"].int == 1)
                #expect(response.json["status"].string == "queued")
                #expect(elapsed >= .milliseconds(300), "answered after \(elapsed.seconds) s")
                #expect(elapsed < .seconds(3), "answered after \(elapsed.seconds) s")
            }
            #expect(h.store.changes.subscriberCount == 0)
        }
    }

    @Test("wait without version waits for a change from the version current on arrival")
    func waitWithoutVersion() async throws {
        // Alone: the claim must land after the poll read the ticket (a claim in between would be
        // the version current on arrival, and the poll would rightly wait out its 5 s).
        try await withAPI(alone: true) { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                async let pending = client.get("/v1/tickets/\(order.ticket)?wait=5")
                try await waitUntil("the poll to wait") { h.store.changes.subscriberCount == 1 }
                _ = try await h.claim()
                let response = try await pending
                #expect(response.status == .ok)
                #expect(response.json["version"].int == 2, "it waited for the claim")
            }
        }
    }

    @Test("a version that is no longer current answers at once")
    func staleVersion() async throws {
        try await withAPI { h in
            let order = try await h.place()
            _ = try await h.claim()
            try await h.test(.live) { client in
                let start = ContinuousClock.now
                let response = try await client.get("/v1/tickets/\(order.ticket)?wait=30&version=1")
                let elapsed = ContinuousClock.now - start
                #expect(response.status == .ok)
                #expect(response.json["version"].int == 2)
                #expect(response.headers[.eTag] == "\"v2\"")
                #expect(elapsed < .seconds(2), "answered after \(elapsed.seconds) s")
            }
        }
    }

    @Test("wait is capped at long_poll_max_seconds")
    func capped() async throws {
        try await withAPI(longPollMaxSeconds: 0.5) { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let start = ContinuousClock.now
                let response = try await client.get("/v1/tickets/\(order.ticket)?wait=30&version=1")
                let elapsed = ContinuousClock.now - start
                #expect(response.status == .ok)
                #expect(response.json["version"].int == 1)
                #expect(elapsed >= .milliseconds(450), "answered after \(elapsed.seconds) s")
                #expect(elapsed < .seconds(5), "answered after \(elapsed.seconds) s")
            }
        }
    }

    @Test("a bad wait or version is 422 naming it", arguments: [
        ("wait=-1", "wait"), ("wait=abc", "wait"), ("wait=nan", "wait"), ("wait=", "wait"),
        ("wait=1&version=0", "version"), ("wait=1&version=x", "version"),
    ])
    func badWait(_ query: String, _ field: String) async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test { client in
                expectValidation(try await client.get("/v1/tickets/\(order.ticket)?\(query)"), field: field)
            }
            #expect(h.store.changes.subscriberCount == 0)
        }
    }

    @Test("a client that goes away while waiting frees its subscription within 2 s")
    func disconnectedClient() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/tickets/\(order.ticket)?wait=30&version=1")
                    try await waitUntil("the poll to wait") { h.store.changes.subscriberCount == 1 }
                }   // the connection closes here
                try await waitUntil("the subscription to go", timeout: .seconds(2)) {
                    h.store.changes.subscriberCount == 0
                }
                // The server still answers others.
                #expect(try await client.get("/v1/tickets/\(order.ticket)").status == .ok)
            }
        }
    }

    @Test("one change releases every poll waiting on the ticket")
    func severalPollers() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                let pollers = 4
                try await withThrowingTaskGroup(of: TestClient.Response.self) { group in
                    for _ in 0..<pollers {
                        group.addTask {
                            try await liveRequest(port: port, "/v1/tickets/\(order.ticket)?wait=20&version=1")
                        }
                    }
                    try await waitUntil("every poll to wait") { h.store.changes.subscriberCount == pollers }
                    let start = ContinuousClock.now
                    _ = try await h.claim()
                    var answered = 0
                    for try await response in group {
                        answered += 1
                        #expect(response.status == .ok)
                        #expect(JSON.parse(response.body ?? ByteBuffer())["version"].int == 2)
                    }
                    #expect(answered == pollers)
                    let elapsed = ContinuousClock.now - start
                    #expect(elapsed < .seconds(2), "all answered \(elapsed.seconds) s after the change")
                }
            }
            #expect(h.store.changes.subscriberCount == 0)
        }
    }
}

/// `max_waiters`: waiting clients are bounded; past the cap a long poll or a stream gets 503.
@Suite("Waiter cap", .timeLimit(.minutes(1)))
struct WaiterCapTests {
    @Test("past max_waiters a long poll and an event stream get 503 with Retry-After; under it they wait")
    func capRefusesWithRetryAfter() async throws {
        try await withAPI { h in
            var settings = h.env.settings
            settings.maxWaiters = 1
            h.env.update(settings: settings)
            let order = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                // Each request on its own connection, so the second does not queue behind the first.
                async let first = liveRequest(port: port, "/v1/tickets/\(order.ticket)?wait=5&version=1")
                try await waitUntil("the first poll to wait") { h.store.changes.subscriberCount == 1 }
                let refused = try await liveRequest(port: port, "/v1/tickets/\(order.ticket)?wait=5&version=1")
                #expect(refused.status == .serviceUnavailable)
                #expect(refused.headers[.retryAfter] == "1")
                #expect(refused.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: refused.body ?? ByteBuffer()).contains("max_waiters"))
                let stream = try await liveRequest(port: port, "/v1/tickets/\(order.ticket)/events")
                #expect(stream.status == .serviceUnavailable)
                // A plain GET is not a waiter and is served.
                #expect(try await liveRequest(port: port, "/v1/tickets/\(order.ticket)").status == .ok)
                _ = try await h.claim()
                #expect(try await first.status == .ok)
            }
            #expect(h.store.changes.subscriberCount == 0)
        }
    }
}
