import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TicketCore
@testable import TicketHTTP
import TicketStore
import TicketTestSupport

/// The pages: embedded files, served with validators and a strict policy; the kitchen's claim
/// of one order; the console's figures; the placement's link to the ticket page.
@Suite("Pages, the kitchen's claim by id, the console's figures", .timeLimit(.minutes(1)))
struct PagesTests {
    static let webDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("web")

    @Test("every file of web/ is embedded, and nothing else")
    func embedded() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.webDirectory.path).filter { !$0.hasPrefix(".") }
        #expect(Set(files) == Set(PageAssets.all.keys))
        for name in files {
            let bytes = try Data(contentsOf: Self.webDirectory.appendingPathComponent(name))
            #expect(PageAssets.all[name]?.bytes == Array(bytes), "\(name) as embedded")
        }
    }

    @Test("pages and files: content types, ETag and 304, no-cache, a strict CSP, no referrer", arguments: [
        ("/", "text/html; charset=utf-8"), ("/board", "text/html; charset=utf-8"),
        ("/t/AZ3kqM4rJmQxN0v7bS9wYc2dEfGh", "text/html; charset=utf-8"), ("/kitchen", "text/html; charset=utf-8"),
        ("/admin", "text/html; charset=utf-8"), ("/favicon.ico", "image/x-icon"),
        ("/assets/style.css", "text/css; charset=utf-8"), ("/assets/common.js", "text/javascript; charset=utf-8"),
        ("/assets/board.js", "text/javascript; charset=utf-8"),
    ])
    func served(_ path: String, _ type: String) async throws {
        try await withAPI { h in
            try await h.test { client in
                let page = try await client.get(path)
                #expect(page.status == .ok)
                #expect(page.headers[.contentType] == type)
                let csp = try #require(page.headers[.contentSecurityPolicy])
                #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("style-src 'self'"))
                #expect(!csp.contains("unsafe-inline") && !csp.contains("http"))
                #expect(page.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
                #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                #expect(page.headers[.cacheControl] == "no-cache")
                let etag = try #require(page.headers[.eTag])
                let again = try await client.get(path, headers: [.ifNoneMatch: etag])
                #expect(again.status == .notModified)
                #expect(again.body.readableBytes == 0)
            }
        }
    }

    @Test("the HTML has no inline script or style, and loads only this origin's files")
    func noInline() throws {
        for name in PageAssets.all.keys where name.hasSuffix(".html") {
            let text = String(decoding: PageAssets.all[name]?.bytes ?? [], as: UTF8.self)
            #expect(!text.contains("style=\""), "\(name): a style attribute")
            #expect(!text.contains(" on") || !text.contains("onclick="), "\(name): an inline handler")
            for match in text.matches(of: /<script[^>]*>/) {
                #expect(match.output.contains("type=\"module\"") && match.output.contains("src=\"/assets/"), "\(name): \(match.output)")
            }
            #expect(!text.contains("http://") && !text.contains("https://"), "\(name): another origin")
        }
    }

    @Test("the kitchen and the console say whether operator access is on")
    func operatorAccess() async throws {
        for token in [APIHarness.token, nil] {
            let expected = token == nil ? "content=\"off\"" : "content=\"on\""
            try await withAPI(adminToken: token) { h in
                try await h.test { client in
                    for page in ["/kitchen", "/admin"] {
                        let text = try await client.get(page).text
                        #expect(text.contains(expected), "\(page) with token \(token ?? "none")")
                    }
                }
            }
        }
    }

    @Test("unknown files are 404; another method on a page is 405 with Allow")
    func refusals() async throws {
        try await withAPI { h in
            try await h.test { client in
                expectProblem(try await client.get("/assets/nope.js"), .notFound)
                expectProblem(try await client.get("/assets/board.html"), .notFound)
                let post = try await client.execute(uri: "/board", method: .post)
                expectProblem(post, .methodNotAllowed)
                #expect(post.headers[.allow] == "GET")
            }
        }
    }

    @Test("the placement links to the ticket's page")
    func placementLink() async throws {
        try await withAPI { h in
            try await h.test { client in
                let placed = try await client.placeOrder(orderBody())
                let ticket = try #require(placed.json["ticket"].string)
                #expect(placed.headers[.location] == "/v1/tickets/\(ticket)")
                #expect(placed.headers[HTTPField.Name("Link")!] == "</t/\(ticket)>; rel=\"alternate\"; type=\"text/html\"")
            }
        }
    }

    @Test("a kitchen screen's start claims that order; a second screen gets 409")
    func claimByID() async throws {
        try await withAPI { h in
            _ = try await h.place()
            let second = try await h.place()
            try await h.test { client in
                let body = #"{"cook":"screen-1","lease_seconds":60}"#
                let claimed = try await client.authorized(.post, "/v1/kitchen/orders/\(second.id)/claim", body: body)
                #expect(claimed.status == .ok, "\(claimed.text)")
                #expect(claimed.json["order"]["id"].int64 == second.id)
                #expect(claimed.json["order"]["status"].string == "cooking")
                #expect(claimed.json["order"]["lease_owner"].string == "screen-1")
                let lease = try #require(claimed.json["lease"].string)

                let again = try await client.authorized(.post, "/v1/kitchen/orders/\(second.id)/claim",
                                                        body: #"{"cook":"screen-2"}"#)
                expectProblem(again, .conflict)
                expectProblem(try await client.authorized(.post, "/v1/kitchen/orders/999999/claim", body: body), .notFound)
                expectValidation(try await client.authorized(.post, "/v1/kitchen/orders/\(second.id)/claim", body: "{}"), field: "cook")
                let anonymous = try await client.execute(uri: "/v1/kitchen/orders/\(second.id)/claim", method: .post,
                                                         headers: jsonHeaders, body: ByteBuffer(string: body))
                expectProblem(anonymous, .unauthorized)

                let ready = try await client.authorized(.post, "/v1/kitchen/orders/\(second.id)/ready", body: #"{"lease":"\#(lease)"}"#)
                #expect(ready.json["status"].string == "ready")
            }
        }
    }

    @Test("the console's figures: live counts and the last 15 minutes from the change feed")
    func stats() async throws {
        try await withAPI { h in
            let order = try await h.place()
            _ = try await h.place()
            let claim = try await h.claim()
            _ = try await h.store.markReady(orderID: order.id, lease: claim.lease)
            try await h.test { client in
                expectProblem(try await client.get("/v1/stats"), .unauthorized)
                // The feed's consumer takes in the commits in its own time.
                let stats = try await waitFor("the ready order in the figures") { () -> JSON? in
                    let json = try await client.authorized(.get, "/v1/stats").json
                    return json["window"]["ready"].int == 1 ? json : nil
                }
                #expect(stats["live"]["queued"].int == 1)
                #expect(stats["live"]["ready"].int == 1)
                #expect(stats["window"]["placed"].int == 2)
                #expect(stats["window"]["wait_p50_seconds"].double != nil)
                #expect(stats["bucket_seconds"].int == 30)
                #expect(stats["buckets"].array?.count == 30)
            }
        }
    }
}
