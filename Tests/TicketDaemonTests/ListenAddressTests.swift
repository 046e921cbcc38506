import Testing
import TicketDaemon

@Suite("ListenAddress", .timeLimit(.minutes(1)))
struct ListenAddressTests {
    @Test("IPv4 host and port", arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("10.1.2.3:0", "10.1.2.3", 0),
        ("192.168.0.1:65535", "192.168.0.1", 65535),
    ])
    func ipv4(_ text: String, _ host: String, _ port: Int) throws {
        let address = try #require(ListenAddress(parsing: text))
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == text)
    }

    @Test("bracketed IPv6 host and port")
    func ipv6() throws {
        let loopback = try #require(ListenAddress(parsing: "[::1]:80"))
        #expect(loopback == ListenAddress(host: "::1", port: 80))
        #expect(loopback.description == "[::1]:80")

        let any = try #require(ListenAddress(parsing: "[::]:8080"))
        #expect(any.host == "::")
        #expect(any.port == 8080)
        #expect(any.description == "[::]:8080")

        let full = try #require(ListenAddress(parsing: "[fe80::1:2]:443"))
        #expect(full.host == "fe80::1:2")
        #expect(full.description == "[fe80::1:2]:443")
    }

    @Test("localhost means the IPv4 loopback")
    func localhost() throws {
        let address = try #require(ListenAddress(parsing: "localhost:0"))
        #expect(address == ListenAddress(host: "127.0.0.1", port: 0))
        #expect(ListenAddress(parsing: "localhost:8080")?.description == "127.0.0.1:8080")
    }

    @Test("a host name other than localhost is kept")
    func hostName() throws {
        #expect(ListenAddress(parsing: "ticketd.internal:9000") == ListenAddress(host: "ticketd.internal", port: 9000))
    }

    @Test("malformed addresses and bad ports are refused", arguments: [
        "nonsense", "", ":", ":8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:-1",
        "127.0.0.1:65536", "127.0.0.1:99999999999999999999", "127.0.0.1:80:81", "::1:80", "[::1]", "[::1]80",
        "[::1:80", "[]:80", "127.0.0.1: 80", "127.0.0.1:8O",
    ])
    func refused(_ text: String) {
        #expect(ListenAddress(parsing: text) == nil, "'\(text)' should not parse")
    }

    @Test("the description round-trips through parsing")
    func roundTrip() throws {
        for address in [ListenAddress(host: "127.0.0.1", port: 8080), ListenAddress(host: "::1", port: 1),
                        ListenAddress(host: "example.org", port: 65535)] {
            #expect(ListenAddress(parsing: address.description) == address)
        }
    }
}
