import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOHTTP1
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketTestSupport

/// `GET /v1/tickets/{ticket}/events`, read as it streams from a live server.
@Suite("Server-Sent Events", .timeLimit(.minutes(1)))
struct EventStreamTests {
    @Test("the current state first, then one event per change, and the stream ends after the final state")
    func lifecycleStream() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/tickets/\(order.ticket)/events")
                    let head = try await connection.readHead()
                    #expect(head.status == .ok)
                    #expect(head.headers["Content-Type"].first == "text/event-stream")

                    let first = try #require(try await connection.nextEvent())
                    #expect(first.event == "ticket")
                    #expect(first.id == "1")
                    #expect(first.json["ticket"].string == order.ticket)
                    #expect(first.json["status"].string == "queued")
                    #expect(first.json["version"].int == 1)
                    #expect(first.json["position"].int == 0)

                    let claim = try await h.claim()
                    let cooking = try #require(try await connection.nextEvent())
                    #expect(cooking.event == "ticket")
                    #expect(cooking.id == "2")
                    #expect(cooking.json["status"].string == "cooking")
                    #expect(cooking.json["version"].int == 2)

                    _ = try await h.store.markReady(orderID: order.id, lease: claim.lease)
                    let ready = try #require(try await connection.nextEvent())
                    #expect(ready.id == "3")
                    #expect(ready.json["status"].string == "ready")

                    _ = try await h.store.pickup(ticket: order.ticket)
                    let done = try #require(try await connection.nextEvent())
                    #expect(done.id == "4")
                    #expect(done.json["status"].string == "picked_up")
                    #expect(isRFC3339Millis(done.json["finished_at"].string))

                    #expect(try await connection.nextEvent() == nil, "the stream ends after the final state")
                    #expect(connection.ended)
                }
            }
            try await waitUntil("the stream's subscription to go") { h.store.changes.subscriberCount == 0 }
        }
    }

    @Test("Last-Event-ID resumes without repeating what the client has seen")
    func resume() async throws {
        try await withAPI { h in
            let order = try await h.place()
            let claim = try await h.claim()
            _ = try await h.store.markReady(orderID: order.id, lease: claim.lease)   // version 3
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/tickets/\(order.ticket)/events", headers: [("Last-Event-ID", "2")])
                    #expect(try await connection.readHead().status == .ok)
                    let current = try #require(try await connection.nextEvent())
                    #expect(current.id == "3")
                    #expect(current.json["status"].string == "ready")

                    _ = try await h.store.pickup(ticket: order.ticket)
                    let done = try #require(try await connection.nextEvent())
                    #expect(done.id == "4")
                    #expect(done.json["status"].string == "picked_up")
                    #expect(try await connection.nextEvent() == nil)
                }
            }
        }
    }

    @Test("a stream on a ticket already final sends its state and ends")
    func finalTicket() async throws {
        try await withAPI { h in
            let order = try await h.place()
            _ = try await h.store.cancel(ticket: order.ticket)
            try await h.test(.live) { client in
                let response = try await client.get("/v1/tickets/\(order.ticket)/events")
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                let blocks = response.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
                let events = blocks.map(ServerSentEvent.init)
                #expect(events.map(\.id) == ["2"])
                #expect(events.first?.event == "ticket")
                #expect(events.first?.json["status"].string == "cancelled")
            }
        }
    }

    @Test("a client that goes away frees the stream's subscription within 2 s")
    func disconnectedClient() async throws {
        try await withAPI { h in
            let order = try await h.place()
            try await h.test(.live) { client in
                let port = try #require(client.port)
                try await RawHTTPConnection.with(port: port) { connection in
                    try await connection.sendGET("/v1/tickets/\(order.ticket)/events")
                    #expect(try await connection.readHead().status == .ok)
                    #expect(try await connection.nextEvent()?.id == "1")
                    #expect(h.store.changes.subscriberCount == 1)
                }   // the connection closes here, with the ticket still queued
                try await waitUntil("the stream's subscription to go", timeout: .seconds(2)) {
                    h.store.changes.subscriberCount == 0
                }
            }
        }
    }

    @Test("an unknown ticket is 404 problem+json")
    func unknown() async throws {
        try await withAPI { h in
            try await h.test { client in
                expectProblem(try await client.get("/v1/tickets/\(TicketID.generate())/events"), .notFound)
                expectProblem(try await client.get("/v1/tickets/nope/events"), .notFound)
            }
            #expect(h.store.changes.subscriberCount == 0)
        }
    }
}
