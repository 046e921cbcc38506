import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import TicketCore
import TicketHTTP
import TicketStore
import TicketStoreSQLite
import TicketTestSupport

// MARK: - The API under test

/// What an HTTP test gets: the running store, the API environment over it, and the database path.
struct APIHarness: Sendable {
    let store: any OrderStore
    let env: APIEnvironment
    let path: String
    let probe: any StoreProbe

    static let token = "secret-token"
    static let menu = Menu(items: [
        Menu.Item(name: "cheeseburger", cookSeconds: 4),
        Menu.Item(name: "fries", cookSeconds: 3),
        Menu.Item(name: "cola", cookSeconds: 0.5),
    ])

    /// The application serving the whole API over `env`, logging only errors.
    var app: some ApplicationProtocol {
        var logger = Logger(label: "ticketd.http-tests")
        logger.logLevel = .error
        return Application(responder: TicketAPI.buildResponder(env), logger: logger)
    }

    /// Runs `body` against the API in the given test mode.
    func test<T: Sendable>(_ setup: TestingSetup = .router,
                           _ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        try await app.test(setup, body)
    }

    /// Row counts of what a placement writes.
    func counts() async throws -> TableCounts {
        try await probe.tableCounts()
    }

    /// Places a one-line order through the store (no HTTP).
    @discardableResult
    func place(_ item: String = "fries", quantity: Int = 1, priority: OrderPriority = .normal) async throws -> Order {
        let lines = [OrderLine(item: item, quantity: quantity)]
        return try await store.place(NewOrder(items: lines, priority: priority,
                                              cookSeconds: APIHarness.menu.cookSeconds(of: lines))).order
    }

    /// Claims the next order through the store, failing the test if there is none.
    func claim(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Claim {
        try #require(try await store.claimNext(cook: "test-cook", leaseSeconds: 30), sourceLocation: sourceLocation)
    }
}

/// Opens a store on a new database in a temporary directory, runs its group-commit writer as a
/// child task, builds the API environment over it, runs `body`, then closes the writer, waits for
/// its loop, closes the store and removes the directory (also when `body` throws).
func withAPI(
    store storeSettings: StoreSettings = StoreSettings(),
    longPollMaxSeconds: Double = 60,
    maxBodyBytes: Int = 64 * 1024,
    adminToken: String? = APIHarness.token,
    ready: Bool = true,
    alone: Bool = false,
    keepAliveSeconds: Double = 15,
    eventStreamMaxSeconds: Double = 0,
    _ body: (APIHarness) async throws -> Void
) async throws {
    await TestGate.shared.enter(alone: alone)
    do {
        try await withAPIUngated(store: storeSettings, longPollMaxSeconds: longPollMaxSeconds,
                                 maxBodyBytes: maxBodyBytes, adminToken: adminToken, ready: ready,
                                 keepAliveSeconds: keepAliveSeconds, eventStreamMaxSeconds: eventStreamMaxSeconds, body)
    } catch {
        await TestGate.shared.leave(alone: alone)
        throw error
    }
    await TestGate.shared.leave(alone: alone)
}

private func withAPIUngated(
    store storeSettings: StoreSettings, longPollMaxSeconds: Double, maxBodyBytes: Int, adminToken: String?,
    ready: Bool, keepAliveSeconds: Double, eventStreamMaxSeconds: Double, _ body: (APIHarness) async throws -> Void
) async throws {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("ticketd-http-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("t.db").path
    let store = try await offPool {
        try SQLiteOrderStore(options: DatabaseOptions(path: path), settings: storeSettings, logger: testLogger("ticketd.store"))
    }
    let settings = APISettings(menu: APIHarness.menu, longPollMaxSeconds: longPollMaxSeconds,
                               maxBodyBytes: maxBodyBytes, adminToken: adminToken, cooks: 1,
                               eventStreamMaxSeconds: eventStreamMaxSeconds, keepAliveSeconds: keepAliveSeconds)
    let env = APIEnvironment(store: store, settings: settings)
    if ready { env.state.markReady() }
    let harness = APIHarness(store: store, env: env, path: path, probe: SQLiteProbe(store: store))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await store.run() }
        // The pages' live feeds (the daemon runs them with the server).
        group.addTask { await env.live.run() }
        var failure: (any Error)?
        do { try await body(harness) } catch { failure = error }
        env.live.stop()
        store.stop()
        try await group.waitForAll()
        if let failure { throw failure }
    }
    try await offPool { try store.close() }
}

// MARK: - Running alone

/// Lets a latency test run while no other test of this target runs (tests run in parallel, and
/// on a small machine their start-up alone adds tens of milliseconds to any measured answer).
/// Other tests share the gate; a test that wants to be alone waits for them to finish, and tests
/// that come later wait for it.
actor TestGate {
    static let shared = TestGate()

    private var sharing = 0
    private var alone = false
    private var waitingAlone: [CheckedContinuation<Void, Never>] = []
    private var waitingShared: [CheckedContinuation<Void, Never>] = []

    func enter(alone: Bool) async {
        if alone { await enterAlone() } else { await enterShared() }
    }

    func leave(alone: Bool) {
        if alone { leaveAlone() } else { leaveShared() }
    }

    private func enterShared() async {
        if alone || !waitingAlone.isEmpty {
            await withCheckedContinuation { waitingShared.append($0) }   // counted in by leaveAlone
        } else {
            sharing += 1
        }
    }

    private func leaveShared() {
        sharing -= 1
        if sharing == 0, !waitingAlone.isEmpty {
            alone = true
            waitingAlone.removeFirst().resume()
        }
    }

    private func enterAlone() async {
        if alone || sharing > 0 {
            await withCheckedContinuation { waitingAlone.append($0) }   // handed over with alone set
        } else {
            alone = true
        }
    }

    private func leaveAlone() {
        if !waitingAlone.isEmpty {
            waitingAlone.removeFirst().resume()
            return
        }
        alone = false
        sharing += waitingShared.count
        let resumed = waitingShared
        waitingShared = []
        for c in resumed { c.resume() }
    }
}

// MARK: - Waiting

/// Seconds as a Double, for messages and comparisons.
extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

// MARK: - Requests

extension HTTPField.Name {
    static let testIdempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let testLastEventID = HTTPField.Name("Last-Event-ID")!
}

let jsonHeaders: HTTPFields = [.contentType: "application/json"]
let authHeaders: HTTPFields = [.authorization: "Bearer \(APIHarness.token)"]
let authJSONHeaders: HTTPFields = [.authorization: "Bearer \(APIHarness.token)", .contentType: "application/json"]

extension TestClientProtocol {
    /// `POST /v1/orders` with a JSON body.
    func placeOrder(_ body: String, headers: HTTPFields = jsonHeaders) async throws -> TestResponse {
        try await execute(uri: "/v1/orders", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }

    /// A request with the operator token and, when given, a JSON body.
    func authorized(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: body == nil ? authHeaders : authJSONHeaders,
                          body: body.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    /// The body parsed as JSON; `.missing` when it does not parse.
    var json: JSON { JSON.parse(body) }
}

/// A request sent on its own connection to a live server (for concurrent requests; the
/// `.live` framework's client has a single connection).
func liveRequest(port: Int, _ uri: String, method: HTTPRequest.Method = .get,
                 headers: HTTPFields = [:], body: String? = nil) async throws -> TestClient.Response {
    try await TestClient.withClient(host: "localhost", port: port) { client in
        try await client.execute(TestClient.Request(uri, method: method, authority: "localhost", headers: headers,
                                                    body: body.map { ByteBuffer(string: $0) }))
    }
}

// MARK: - Assertions

/// Expects an `application/problem+json` answer with `status`, carrying type, title, a matching
/// status member and detail; returns the parsed problem.
@discardableResult
func expectProblem(_ response: TestResponse, _ status: HTTPResponse.Status,
                   sourceLocation: SourceLocation = #_sourceLocation) -> JSON {
    #expect(response.status == status, "\(response.text)", sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    let problem = response.json
    #expect(problem["type"].string?.isEmpty == false, "problem type in \(response.text)", sourceLocation: sourceLocation)
    #expect(problem["title"].string?.isEmpty == false, "problem title in \(response.text)", sourceLocation: sourceLocation)
    #expect(problem["status"].int == Int(status.code), "problem status in \(response.text)", sourceLocation: sourceLocation)
    #expect(problem["detail"].string?.isEmpty == false, "problem detail in \(response.text)", sourceLocation: sourceLocation)
    return problem
}

/// Expects a 422 validation problem whose `errors` name `field`.
func expectValidation(_ response: TestResponse, field: String,
                      sourceLocation: SourceLocation = #_sourceLocation) {
    let problem = expectProblem(response, .unprocessableContent, sourceLocation: sourceLocation)
    let fields = problem["errors"].array?.compactMap { $0["field"].string } ?? []
    #expect(fields.contains(field), "errors \(fields) should name \(field)", sourceLocation: sourceLocation)
}

/// Expects a `Retry-After` of a whole number of seconds ≥ 1.
func expectRetryAfter(_ response: TestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
    let value = response.headers[.retryAfter]
    #expect(value.flatMap { Int($0) }.map { $0 >= 1 } == true, "Retry-After \(value ?? "missing")",
            sourceLocation: sourceLocation)
}

/// True for `YYYY-MM-DDTHH:MM:SS.mmmZ`.
func isRFC3339Millis(_ text: String?) -> Bool {
    guard let text else { return false }
    return text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
}

/// A JSON order body of the given lines.
func orderBody(_ lines: [(String, Int)] = [("fries", 1)], priority: String? = nil) -> String {
    let items = lines.map { "{\"item\":\"\($0.0)\",\"quantity\":\($0.1)}" }.joined(separator: ",")
    let priorityText = priority.map { ",\"priority\":\"\($0)\"" } ?? ""
    return "{\"items\":[\(items)]\(priorityText)}"
}

// MARK: - JSON

/// A parsed JSON value for assertions: subscripts never trap, a missing member is `.missing`.
enum JSON: Sendable, Equatable, Decodable {
    case missing
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let d = try? c.decode(Double.self) { self = .number(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSON].self) { self = .array(a); return }
        if let o = try? c.decode([String: JSON].self) { self = .object(o); return }
        throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
    }

    static func parse(_ buffer: ByteBuffer) -> JSON {
        parse(Data(buffer.readableBytesView))
    }

    static func parse(_ text: String) -> JSON {
        parse(Data(text.utf8))
    }

    static func parse(_ data: Data) -> JSON {
        (try? JSONDecoder().decode(JSON.self, from: data)) ?? .missing
    }

    subscript(key: String) -> JSON {
        if case .object(let o) = self { return o[key] ?? .missing }
        return .missing
    }

    subscript(index: Int) -> JSON {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return .missing
    }

    var string: String? { if case .string(let s) = self { return s }; return nil }
    var double: Double? { if case .number(let d) = self { return d }; return nil }
    var int: Int? { double.flatMap { Int(exactly: $0) } }
    var int64: Int64? { double.flatMap { Int64(exactly: $0) } }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var array: [JSON]? { if case .array(let a) = self { return a }; return nil }
    var object: [String: JSON]? { if case .object(let o) = self { return o }; return nil }
    var isNull: Bool { self == .null }
    var isMissing: Bool { self == .missing }
}
