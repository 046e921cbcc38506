import Foundation
import Testing
import TicketTestSupport

/// The two-node example of docs/operations.md behind Debian's nginx, with the repository's sample
/// configuration (config/nginx-ticketd.conf), its ports replaced by free loopback ones.
@Suite("Two nodes behind nginx", .timeLimit(.minutes(3)))
struct NginxTests {
    @Test("orders, a long poll of the full cap (60 s) and an SSE stream pass through nginx unbuffered, without a 504")
    func behindNginx() async throws {
        let nginx = "/usr/sbin/nginx"
        guard FileManager.default.isExecutableFile(atPath: nginx) else {
            Issue.record("nginx is missing: scripts/ensure-deps installs it (apt-get install nginx)")
            return
        }
        let cluster = try await PostgresCluster.shared()
        let nodes = try NodeSet(url: cluster.url(try await cluster.emptyDatabase()), label: "pg-nginx")
        defer { nodes.stopAll() }
        let a = try nodes.start("shop-1", cooks: 0)
        let b = try nodes.start("shop-2", cooks: 0)

        let port = try PostgresCluster.freePort()
        let prefix = nodes.scratch.url.appendingPathComponent("nginx").path
        try FileManager.default.createDirectory(atPath: prefix + "/logs", withIntermediateDirectories: true)
        var site = try String(contentsOf: packageRoot.appendingPathComponent("config/nginx-ticketd.conf"), encoding: .utf8)
        site = site.replacingOccurrences(of: "server 127.0.0.1:8081;", with: "server 127.0.0.1:\(a.port);")
            .replacingOccurrences(of: "server 127.0.0.1:8082;", with: "server 127.0.0.1:\(b.port);")
            .replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:\(port);")
        #expect(site.contains("127.0.0.1:\(a.port)") && site.contains("listen 127.0.0.1:\(port);"))
        let conf = try nodes.scratch.write("nginx/nginx.conf", """
            \(getuid() == 0 ? "user root;" : "")
            worker_processes 1;
            daemon off;
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/logs/error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(prefix)/client;
                proxy_temp_path \(prefix)/proxy;
                fastcgi_temp_path \(prefix)/fastcgi;
                uwsgi_temp_path \(prefix)/uwsgi;
                scgi_temp_path \(prefix)/scgi;
            \(site)
            }
            """)
        let proxy = try TicketdProcess(binary: URL(fileURLWithPath: nginx), arguments: ["-p", prefix, "-c", conf],
                                       directory: nodes.scratch.url)
        defer { proxy.terminate(grace: 5) }
        let client = HTTPClient(port: port)
        try await waitUntil("nginx answers", timeout: .seconds(20), poll: .milliseconds(50)) {
            (try? await client.get("/healthz", timeout: 2))?.status == 200
        }

        // Orders through the proxy, both nodes behind it.
        var placedTickets: [TicketBody] = []
        for _ in 0..<4 {
            let placed = try await client.placeOrder([("fries", 1)])
            #expect(placed.status == 202)
            placedTickets.append(try placed.decode())
        }
        let tickets = placedTickets
        // A long poll of the full cap: ticketd answers at 60 s; nginx (90 s) never cuts it first.
        let started = ContinuousClock.now
        async let poll = client.get("/v1/tickets/\(tickets[0].ticket)?wait=60&version=1", timeout: 100)

        // Meanwhile an SSE stream through the proxy: the first event at once, a change as it commits.
        let stream = try await onThread { try client.openEvents("/v1/tickets/\(tickets[1].ticket)/events") }
        defer { stream.close() }
        let first = try await onThread { try stream.next(timeout: 10) }
        #expect(first?.event == "ticket" && first?.id == "1")
        let cancelled = ContinuousClock.now
        let cancel = try await onThread { try client.request("DELETE", "/v1/tickets/\(tickets[1].ticket)") }
        #expect(cancel.status == 200)
        let change = try await onThread { try stream.next(timeout: 10) }
        #expect(change?.id == "2" && change?.data.contains("\"cancelled\"") == true)
        #expect(ContinuousClock.now - cancelled < .seconds(2), "the event passed through unbuffered")

        let polled = try await poll
        let waited = ContinuousClock.now - started
        #expect(polled.status == 200, "\(polled)")
        #expect(waited >= .seconds(59), "held for the full cap: \(waited)")
        #expect(try polled.decode(TicketBody.self).version == 1)
    }
}
