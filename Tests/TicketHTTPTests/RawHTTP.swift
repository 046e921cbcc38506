import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// A plain HTTP/1.1 client connection to a live server whose response is read part by part as
/// the server streams it (the test frameworks' clients hand over a response only once it ended),
/// and which the test can drop at any moment, like a client that goes away.
struct RawHTTPConnection {
    typealias Channel = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    /// Connects, runs `body` with the connection, and closes it when `body` returns.
    static func with<T>(port: Int, _ body: (inout RawHTTPConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: "localhost", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try Channel(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawHTTPConnection(iterator: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    /// Body text received and not yet consumed as an event.
    private var pending = ""
    private(set) var ended = false

    private init(iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator,
                 outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>) {
        self.iterator = iterator
        self.outbound = outbound
    }

    /// Sends a GET with `headers` (no body).
    func sendGET(_ uri: String, headers: [(String, String)] = []) async throws {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri)
        head.headers.add(name: "Host", value: "localhost")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        try await outbound.write(.head(head))
        try await outbound.write(.end(nil))
    }

    /// The response head.
    mutating func readHead() async throws -> HTTPResponseHead {
        guard case .head(let head)? = try await iterator.next() else {
            throw RawHTTPError.unexpected("no response head")
        }
        return head
    }

    /// The next Server-Sent Event, or nil once the response ended (or the connection closed).
    mutating func nextEvent() async throws -> ServerSentEvent? {
        while true {
            if let range = pending.range(of: "\n\n") {
                let block = String(pending[..<range.lowerBound])
                pending = String(pending[range.upperBound...])
                return ServerSentEvent(block)
            }
            if ended { return nil }
            switch try await iterator.next() {
            case .body(let buffer)?: pending += String(buffer: buffer)
            case .end?, nil: ended = true
            case .head?: throw RawHTTPError.unexpected("a second response head")
            }
        }
    }

    /// The rest of the body as text, until the response ends.
    mutating func readToEnd() async throws -> String {
        while !ended {
            switch try await iterator.next() {
            case .body(let buffer)?: pending += String(buffer: buffer)
            case .end?, nil: ended = true
            case .head?: throw RawHTTPError.unexpected("a second response head")
            }
        }
        defer { pending = "" }
        return pending
    }
}

enum RawHTTPError: Error {
    case unexpected(String)
}

/// One event of a `text/event-stream`.
struct ServerSentEvent: Sendable, CustomStringConvertible {
    var event: String?
    var id: String?
    var data = ""

    init(_ block: String) {
        var dataLines: [String] = []
        for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            else if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
            else if line.hasPrefix("data: ") { dataLines.append(String(line.dropFirst(6))) }
        }
        data = dataLines.joined(separator: "\n")
    }

    var json: JSON { JSON.parse(data) }
    var description: String { "event \(event ?? "-") id \(id ?? "-") data \(data)" }
}
