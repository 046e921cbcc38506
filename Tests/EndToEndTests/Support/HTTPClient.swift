import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 client over a POSIX socket to 127.0.0.1, for the end-to-end tests. Every
/// read and write is bounded by a deadline; it understands Content-Length, chunked transfer
/// encoding and read-to-close bodies, and can read a Server-Sent Events stream incrementally.
/// One request per connection (`Connection: close`). Calls block: use it through `onThread`.
final class HTTPConnection: @unchecked Sendable {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(port: Int, timeout: Double) throws {
        #if canImport(Glibc)
        // Close-on-exec: a daemon another test starts at this instant must not keep a copy (the
        // connection would outlive `close()`, and the server would never see this client leave).
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw HarnessError("socket(): errno \(errno)") }
        // Bounds connect() and send() too.
        var tv = timeval()
        tv.tv_sec = .init(timeout)
        tv.tv_usec = .init((timeout - Double(Int(timeout))) * 1_000_000)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let code = errno
            // Swift runs `deinit` when an initializer throws after every stored property is set:
            // without `closed`, it would close the descriptor a second time, by then perhaps
            // another thread's (CI saw NIO's selector assert on a descriptor closed under it).
            close()
            throw HarnessError("connect to 127.0.0.1:\(port): \(String(cString: strerror(code)))")
        }
    }

    deinit { if !closed && fd >= 0 { _ = Self.closeFD(fd) } }

    func close() {
        guard !closed else { return }
        closed = true
        _ = Self.closeFD(fd)
    }

    private static func closeFD(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.close(fd)
        #else
        Darwin.close(fd)
        #endif
    }

    // MARK: Writing

    func send(_ bytes: [UInt8], deadline: Deadline) throws {
        var offset = 0
        while offset < bytes.count {
            if deadline.hasPassed { throw HarnessError("timed out sending the request") }
            #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)
            #else
            let flags: Int32 = 0
            #endif
            let n = bytes[offset...].withUnsafeBytes { socketSend(fd, $0.baseAddress, $0.count, flags) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HarnessError("send(): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    func sendRequest(method: String, path: String, port: Int, headers: [(String, String)], body: [UInt8]?,
                     deadline: Deadline) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + (body ?? []), deadline: deadline)
    }

    // MARK: Reading

    /// Reads more bytes into the buffer; false at the end of the stream.
    private func fill(deadline: Deadline) throws -> Bool {
        while true {
            let remaining = deadline.remaining
            if remaining <= 0 { throw HarnessError("timed out waiting for the server") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
            if ready < 0 {
                if errno == EINTR { continue }
                throw HarnessError("poll(): \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 16384)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                if errno == ECONNRESET { return false }
                throw HarnessError("recv(): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
    }

    /// One line without its CR LF; nil at the end of the stream.
    func readLine(deadline: Deadline) throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill(deadline: deadline) else { return nil }
        }
    }

    func readExactly(_ count: Int, deadline: Deadline) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill(deadline: deadline) else {
                throw HarnessError("the connection closed \(count - buffer.count) bytes before the end of the body")
            }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return bytes
    }

    func readToEnd(deadline: Deadline) throws -> [UInt8] {
        while try fill(deadline: deadline) {}
        defer { buffer = [] }
        return buffer
    }

    /// The status line and headers.
    func readHead(deadline: Deadline) throws -> (status: Int, headers: [(String, String)]) {
        guard let statusLine = try readLine(deadline: deadline) else {
            throw HarnessError("the connection closed before a response")
        }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw HarnessError("not an HTTP status line: \(statusLine)")
        }
        var headers: [(String, String)] = []
        while let line = try readLine(deadline: deadline), !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw HarnessError("bad header line: \(line)") }
            headers.append((String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                            String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
        }
        return (status, headers)
    }

    // MARK: Bodies

    enum Framing { case length(Int), chunked, untilClose, none }

    private var framing = Framing.none
    private var chunkedDone = false

    func setFraming(status: Int, method: String, headers: [(String, String)]) {
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) {
            framing = .none
        } else if header("transfer-encoding")?.lowercased().contains("chunked") == true {
            framing = .chunked
        } else if let length = header("content-length").flatMap({ Int($0) }) {
            framing = .length(length)
        } else {
            framing = .untilClose
        }
    }

    /// The next piece of the body as it arrives; nil at its end.
    func nextBodyPiece(deadline: Deadline) throws -> [UInt8]? {
        switch framing {
        case .none:
            return nil
        case .length(let remaining):
            guard remaining > 0 else { return nil }
            if buffer.isEmpty, try !fill(deadline: deadline) {
                throw HarnessError("the connection closed \(remaining) bytes before the end of the body")
            }
            let take = min(remaining, buffer.count)
            let piece = Array(buffer[..<take])
            buffer.removeSubrange(..<take)
            framing = .length(remaining - take)
            return piece
        case .chunked:
            guard !chunkedDone else { return nil }
            while true {
                guard let sizeLine = try readLine(deadline: deadline) else {
                    throw HarnessError("the connection closed inside a chunked body")
                }
                let hex = sizeLine.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
                guard let size = Int(hex, radix: 16) else { throw HarnessError("bad chunk size line: \(sizeLine)") }
                if size == 0 {
                    // Trailers, then the empty line.
                    while let trailer = try readLine(deadline: deadline), !trailer.isEmpty {}
                    chunkedDone = true
                    return nil
                }
                let data = try readExactly(size, deadline: deadline)
                _ = try readLine(deadline: deadline)  // the CR LF after the data
                if !data.isEmpty { return data }
            }
        case .untilClose:
            if buffer.isEmpty, try !fill(deadline: deadline) { return nil }
            defer { buffer = [] }
            return buffer
        }
    }

    func readBody(deadline: Deadline) throws -> [UInt8] {
        var body: [UInt8] = []
        while let piece = try nextBodyPiece(deadline: deadline) { body += piece }
        return body
    }
}

/// `send` is shadowed by the method of the same name inside the class.
private func socketSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int {
    send(fd, bytes, count, flags)
}

/// A complete response.
struct HTTPResponse: Sendable, CustomStringConvertible {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }

    func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw HarnessError("cannot decode \(T.self) from HTTP \(status): \(text) (\(error))")
        }
    }

    var description: String { "HTTP \(status) \(text)" }
}

/// A ticket as the API returns it (the fields the tests look at).
struct TicketBody: Decodable, Sendable, Equatable {
    let ticket: String
    let number: Int
    let status: String
    let version: Int
}

/// One Server-Sent Event.
struct ServerSentEvent: Sendable {
    var event: String?
    var id: String?
    var data: String
}

/// Blocking HTTP calls to a daemon on a loopback port.
struct HTTPClient: Sendable {
    let port: Int

    /// One request on a fresh connection; the whole exchange is bounded by `timeout` seconds.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                 timeout: Double = 10) throws -> HTTPResponse {
        let deadline = Deadline(seconds: timeout)
        let connection = try HTTPConnection(port: port, timeout: timeout)
        defer { connection.close() }
        try connection.sendRequest(method: method, path: path, port: port, headers: headers, body: body, deadline: deadline)
        let (status, responseHeaders) = try connection.readHead(deadline: deadline)
        connection.setFraming(status: status, method: method, headers: responseHeaders)
        let responseBody = try connection.readBody(deadline: deadline)
        return HTTPResponse(status: status, headers: responseHeaders, body: responseBody)
    }

    // Async wrappers: the blocking work runs on a thread of its own.

    func get(_ path: String, headers: [(String, String)] = [], timeout: Double = 10) async throws -> HTTPResponse {
        try await onThread { try self.request("GET", path, headers: headers, timeout: timeout) }
    }

    func post(_ path: String, json: String? = nil, timeout: Double = 10) async throws -> HTTPResponse {
        let headers: [(String, String)] = json == nil ? [] : [("Content-Type", "application/json")]
        let body = json.map { Array($0.utf8) } ?? []
        return try await onThread { try self.request("POST", path, headers: headers, body: body, timeout: timeout) }
    }

    /// Places an order and returns the 202 response.
    func placeOrder(_ items: [(String, Int)]) async throws -> HTTPResponse {
        let lines = items.map { #"{"item": "\#($0.0)", "quantity": \#($0.1)}"# }.joined(separator: ", ")
        return try await post("/v1/orders", json: #"{"items": [\#(lines)]}"#)
    }

    /// Opens `path` as an event stream; read it with `SSEStream.next`.
    func openEvents(_ path: String, timeout: Double = 10) throws -> SSEStream {
        let deadline = Deadline(seconds: timeout)
        let connection = try HTTPConnection(port: port, timeout: timeout)
        try connection.sendRequest(method: "GET", path: path, port: port,
                                   headers: [("Accept", "text/event-stream")], body: nil, deadline: deadline)
        let (status, headers) = try connection.readHead(deadline: deadline)
        connection.setFraming(status: status, method: "GET", headers: headers)
        return SSEStream(connection: connection, status: status, headers: headers)
    }
}

/// An open `text/event-stream` response, read one event at a time.
final class SSEStream: @unchecked Sendable {
    let connection: HTTPConnection
    let status: Int
    let headers: [(String, String)]
    private var pending: [UInt8] = []
    private var ended = false

    init(connection: HTTPConnection, status: Int, headers: [(String, String)]) {
        self.connection = connection
        self.status = status
        self.headers = headers
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    /// The next event; nil when the server ends the stream. Throws when nothing arrives before
    /// the deadline.
    func next(timeout: Double) throws -> ServerSentEvent? {
        let deadline = Deadline(seconds: timeout)
        var event = ServerSentEvent(data: "")
        var hasData = false
        while true {
            guard let line = try nextLine(deadline: deadline) else { return nil }
            if line.isEmpty {
                if hasData || event.event != nil || event.id != nil { return event }
                continue
            }
            if line.hasPrefix(":") { continue }  // a comment (keep-alive)
            let field: Substring
            var value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                value = line[line.index(after: colon)...]
                if value.hasPrefix(" ") { value = value.dropFirst() }
            } else {
                field = Substring(line)
                value = ""
            }
            switch field {
            case "event": event.event = String(value)
            case "id": event.id = String(value)
            case "data":
                event.data += (hasData ? "\n" : "") + value
                hasData = true
            default: break
            }
        }
    }

    private func nextLine(deadline: Deadline) throws -> String? {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if ended { return nil }
            if let piece = try connection.nextBodyPiece(deadline: deadline) {
                pending += piece
            } else {
                ended = true
                if pending.isEmpty { return nil }
                pending.append(UInt8(ascii: "\n"))
            }
        }
    }

    func close() { connection.close() }
}
