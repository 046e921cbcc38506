import Hummingbird
import NIOCore
import TicketCore
import TicketStore
import TicketWaiting

/// `POST /v1/orders`, the ticket routes (GET, long poll, SSE, cancel, pickup), menu, board and
/// the board's live feed.
struct CustomerRoutes: Sendable {
    let env: APIEnvironment

    /// The handlers of the customer's routes, by `operationId` (`APIRoutes.all` says where).
    var handlers: [String: APIRoutes.Handler] {
        [
            "placeOrder": { request, context in try await self.placeOrder(request, context: context) },
            "getTicket": { request, context in
                // A long poll goes straight to `longPoll`, not through `getTicket`: every async
                // frame on the way stays allocated while the poll waits (see `longPoll`).
                if let poll = try self.longPollParameters(request, context: context) {
                    return try await self.longPoll(ticket: poll.ticket, wait: poll.wait, version: poll.version,
                                                   channel: context.channel)
                }
                return try await self.getTicket(request, context: context)
            },
            "streamTicketEvents": { request, context in try await self.streamEvents(request, context: context) },
            "cancelTicket": { _, context in
                let ticket = try Self.ticketParameter(context)
                return try await self.answer(self.transition { try await self.env.store.cancel(ticket: ticket) })
            },
            "pickupTicket": { _, context in
                let ticket = try Self.ticketParameter(context)
                return try await self.answer(self.transition { try await self.env.store.pickup(ticket: ticket) })
            },
            "getMenu": { _, _ in self.menu() },
            "getBoard": { _, _ in try await self.board() },
            "streamBoardEvents": { request, context in
                try await LiveStream.response(self.env.live.board, env: self.env, request: request, context: context)
            },
        ]
    }

    // MARK: Placing

    func placeOrder(_ request: Request, context: TicketRequestContext) async throws -> Response {
        let settings = env.settings
        try Self.requireJSON(request)
        var request = request
        let buffer = try await request.collectBody(upTo: settings.maxBodyBytes)
        guard let value = JSONValue.parse(buffer.readableBytesView) else {
            throw Problem.badRequest("the body is not valid JSON")
        }
        let key = try Self.idempotencyKey(request)
        let new: NewOrder
        switch OrderRequest.validate(value, menu: settings.menu) {
        case .success(let order): new = order
        case .failure(let problem): throw problem
        }
        let idempotency = key.map { IdempotencyKey(key: $0, requestHash: fnv1a128Hex(value.canonical)) }
        let env = self.env
        let estimate = env.estimate  // one snapshot for the stored answer, the body and Retry-After
        let placement: Placement
        do {
            placement = try await env.store.place(new, idempotency: idempotency,
                                                  answer: PlacementAnswer(statusCode: 202, estimate: estimate))
        } catch let error as StoreError {
            throw Problem.from(error)
        }
        let order = placement.order
        var headers = HTTPFields()
        headers[.location] = "/v1/tickets/\(order.ticket)"
        // The customer's page of the ticket (what a receipt's QR code would carry).
        headers[.link] = "</t/\(order.ticket)>; rel=\"alternate\"; type=\"text/html\""
        headers[.eTag] = Self.etag(order.version)
        let now = env.store.now()
        if placement.replayed {
            env.metrics.ordersReplayed.increment()
            headers[.retryAfter] = String(estimate.pollInterval(order, position: nil, now: now))
            headers[.contentType] = "application/json"
            headers[.eTag] = Self.etag(1)
            let status = HTTPResponse.Status(code: placement.statusCode)
            return Response(status: status, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: placement.response ?? [])))
        }
        env.metrics.ordersPlaced.increment()
        context.logger.debug("order placed", metadata: ["number": "\(order.number)", "order": "\(order.id)"])
        headers[.retryAfter] = String(estimate.pollInterval(order, position: placement.position, now: now))
        if let body = placement.response {
            headers[.contentType] = "application/json"
            return Response(status: .accepted, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        var w = JSONWriter()
        TicketBody.write(order, position: placement.position, estimate: estimate, now: now, to: &w)
        return w.response(.accepted, headers: headers)
    }

    // MARK: Reading and waiting

    @inline(never)  // its frame stays out of the route closure's (and so out of a long poll's)
    func getTicket(_ request: Request, context: TicketRequestContext) async throws -> Response {
        let ticket = try Self.ticketParameter(context)
        let query = request.uri.queryParameters
        if query["wait"] != nil {
            // The router sends long polls to `longPoll`; this serves them too, for other callers.
            guard let poll = try longPollParameters(request, context: context) else { throw Problem.ticketNotFound }
            return try await longPoll(ticket: poll.ticket, wait: poll.wait, version: poll.version, channel: context.channel)
        }
        // Without wait a version changes nothing (the answer is at once either way), but a bad
        // one is still refused, as the document types it.
        if let v = query["version"] { _ = try Self.version(v) }
        guard let found = try await env.store.ticket(ticket) else {
            throw Problem.ticketNotFound
        }
        let order = found.order, position = found.position
        let etag = Self.etag(order.version)
        if let match = request.headers[.ifNoneMatch], Self.etagMatches(match, etag) {
            var headers = HTTPFields()
            headers[.eTag] = etag
            return Response(status: .notModified, headers: headers)
        }
        return ticketResponse(order, position: position)
    }

    /// The ticket, wait (capped at `long_poll_max_seconds`) and version of a long poll
    /// (`?wait=S[&version=V]`), or nil when the request has no `wait`. Synchronous, so that it
    /// takes no room in the async frames that stay allocated while the poll waits.
    @inline(never)
    func longPollParameters(_ request: Request, context: TicketRequestContext) throws
        -> (ticket: String, wait: Double, version: Int?)? {
        let query = request.uri.queryParameters
        guard let waitText = query["wait"] else { return nil }
        let ticket = try Self.ticketParameter(context)
        guard let wait = Double(String(waitText)), wait.isFinite, wait >= 0 else {
            throw Problem.validation([.init("wait", "must be a number of seconds ≥ 0")])
        }
        let version = try query["version"].map(Self.version)
        return (ticket, min(wait, env.settings.longPollMaxSeconds), version)
    }

    /// A `version` query parameter: a whole number from 1 to 2^63 − 1 (the document's bounds).
    static func version(_ text: Substring) throws -> Int {
        guard let parsed = Int(String(text)), parsed >= 1 else {
            throw Problem.validation([.init("version", "must be a whole number from 1 to \(Int.max)")])
        }
        return parsed
    }

    /// Answers at once if the version is no longer `version` (or the version current when the
    /// request arrived, when none is given), else when it changes or after `wait` seconds.
    ///
    /// Waiting is one continuation registered in the notifier (`TicketWaiter`), with its
    /// deadline on the notifier's shared timer and the connection watched by a pipeline handler
    /// that releases it: no task, stream or timer of its own. What a waiting poll costs is
    /// mostly the async frames of the request, which stay allocated while it waits: reading the
    /// ticket and building the answer are in functions of their own (`firstLook`,
    /// `currentAnswer`), so their frames are freed before the wait and this one stays small.
    @inline(__always)  // into the route's closure: one async frame less while it waits
    func longPoll(ticket: String, wait: Double, version: Int?, channel: (any Channel)?) async throws -> Response {
        try refuseWhenTooManyWaiters()
        let waiter = env.changes.unregisteredWaiter(ticket: ticket)
        defer { waiter.close() }
        // Watch the connection before the waiter counts as waiting, so that a client that
        // leaves once the poll waits is always noticed.
        var watch: ChannelClosure.Watch?
        if let channel { watch = await ChannelClosure.watch(channel) { waiter.release() } }
        defer { watch?.stop() }
        // Register before reading, so a change committed in between is not missed.
        waiter.register()
        let known: Int
        switch try await firstLook(ticket: ticket, wait: wait, version: version) {
        case .answer(let response): return response
        case .wait(let beyond): known = beyond
        }
        let deadline = ContinuousClock.now + .milliseconds(Int64((wait * 1000).rounded()))
        let outcome = await waiter.wait(beyond: known, until: deadline)
        if outcome == .released {
            // The client went away: nobody reads an answer, so skip the read.
            return Response(status: .noContent)
        }
        if outcome == .changed, let response = try await changeAnswer(waiter) {
            // The committed state that released the poll, as the writer published it: no read
            // on the way to the answer.
            return response
        }
        // Timed out, shutdown, cancelled, or changed before the wait began: the current state.
        return try await currentAnswer(ticket: ticket)
    }

    /// What a long poll does before waiting: answer now, or wait for a change beyond a version.
    enum FirstLook: Sendable {
        case answer(Response)
        case wait(beyond: Int)
    }

    /// Reads the ticket for a long poll: answers at once if the version differs from `version`,
    /// if there is no wait, or at shutdown.
    @inline(never)
    func firstLook(ticket: String, wait: Double, version: Int?) async throws -> FirstLook {
        guard let found = try await env.store.ticket(ticket) else {
            throw Problem.ticketNotFound
        }
        let order = found.order, position = found.position
        let known = version ?? order.version
        if order.version != known || wait <= 0 || env.state.isStopping {
            return .answer(ticketResponse(order, position: position))
        }
        return .wait(beyond: known)
    }

    /// A long poll's answer with the state that released it (the position, while queued, as the
    /// store has it after the commit that released the poll).
    /// (Not inlined: the `Order` stays out of `longPoll`'s async frame.)
    @inline(never)
    func changeAnswer(_ waiter: TicketWaiter) async throws -> Response? {
        guard let change = waiter.change else { return nil }
        return ticketResponse(change, position: change.status == .queued ? try await env.store.position(of: change) : nil)
    }

    /// The ticket's current state, as a long poll's answer.
    @inline(never)
    func currentAnswer(ticket: String) async throws -> Response {
        guard let found = try await env.store.ticket(ticket) else {
            throw Problem.ticketNotFound
        }
        let order = found.order, position = found.position
        return ticketResponse(order, position: position)
    }

    /// Server-Sent Events: the current state at once, then one event per change, until a final
    /// state. `Last-Event-ID` (a version) skips what the client has seen.
    func streamEvents(_ request: Request, context: TicketRequestContext) async throws -> Response {
        let ticket = try Self.ticketParameter(context)
        try refuseWhenTooManyWaiters()
        let subscription = env.changes.unregisteredSubscription(ticket: ticket)
        // Ends the subscription when the client goes away, so the loop below ends too. Started
        // before the stream counts as waiting, so a client that leaves once it waits is seen.
        var watch: ChannelClosure.Watch?
        if let channel = context.channel { watch = await ChannelClosure.watch(channel) { subscription.close() } }
        // Register before reading, so a change committed in between is not missed.
        subscription.register()
        guard let found = try await env.store.ticket(ticket) else {
            subscription.close()
            watch?.stop()
            throw Problem.ticketNotFound
        }
        let order = found.order, position = found.position
        let resumeAfter = Self.resumeVersion(lastEventID: request.headers[.lastEventID], current: order.version)
        let env = self.env
        let clientWatch = watch
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            defer {
                subscription.close()
                clientWatch?.stop()
            }
            var sent = resumeAfter
            if order.version > sent {
                try await writer.write(Self.sseEvent(env, order, position: position))
                sent = order.version
            }
            if order.status.isFinal || env.state.isStopping {
                try await writer.finish(nil)
                return
            }
            for await change in subscription.changes where change.version > sent {
                let pos = change.status == .queued ? try await env.store.position(of: change) : nil
                try await writer.write(Self.sseEvent(env, change, position: pos))
                sent = change.version
                if change.status.isFinal { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The version a stream resumes after: the `Last-Event-ID` a client sends back when it is
    /// one of this ticket's versions, else 0 (send the current state). Browsers resend whatever
    /// id they last saw, perhaps another server's; an id that is not a version, or that is ahead
    /// of the ticket (versions only grow), is not ours, and the client still wants the state.
    static func resumeVersion(lastEventID: String?, current: Int) -> Int {
        guard let text = lastEventID?.trimmingCharacters(in: .whitespaces), let seen = Int(text),
              seen >= 0, seen <= current else { return 0 }
        return seen
    }

    static func sseEvent(_ env: APIEnvironment, _ order: Order, position: Int?) -> ByteBuffer {
        let json = env.ticketJSON(order, position: position, now: env.store.now())
        var buffer = ByteBuffer()
        buffer.writeString("event: ticket\nid: \(order.version)\ndata: ")
        buffer.writeBytes(json.bytes)
        buffer.writeString("\n\n")
        return buffer
    }

    /// Bounds the memory held by waiting clients (`max_waiters`).
    func refuseWhenTooManyWaiters() throws {
        try env.refuseWhenTooManyWaiters()
    }

    // MARK: Cancel and pickup

    func transition(_ body: () async throws -> Order) async throws -> Order {
        do {
            return try await body()
        } catch let error as StoreError {
            throw Problem.from(error, subject: "ticket")
        }
    }

    func answer(_ order: Order) async throws -> Response {
        let position = order.status == .queued ? try await env.store.position(of: order) : nil
        return ticketResponse(order, position: position)
    }

    func ticketResponse(_ order: Order, position: Int?) -> Response {
        let now = env.store.now()
        let estimate = env.estimate  // one snapshot for the body and Retry-After
        var headers = HTTPFields()
        headers[.eTag] = Self.etag(order.version)
        if !order.status.isFinal {
            headers[.retryAfter] = String(estimate.pollInterval(order, position: position, now: now))
        }
        var w = JSONWriter()
        TicketBody.write(order, position: position, estimate: estimate, now: now, to: &w)
        return w.response(.ok, headers: headers)
    }

    // MARK: Menu and board

    func menu() -> Response {
        var w = JSONWriter()
        w.beginObject()
        w.key("items")
        w.beginArray()
        for item in env.settings.menu.items {
            w.element()
            w.beginObject()
            w.key("item"); w.value(item.name)
            w.key("cook_seconds"); w.value(item.cookSeconds)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return w.response()
    }

    func board() async throws -> Response {
        let board = try await env.store.board()
        var w = JSONWriter()
        w.beginObject()
        w.key("preparing"); w.beginArray(); for n in board.preparing { w.element(); w.value(n) }; w.endArray()
        w.key("ready"); w.beginArray(); for n in board.ready { w.element(); w.value(n) }; w.endArray()
        w.endObject()
        return w.response()
    }

    // MARK: Helpers

    static func ticketParameter(_ context: TicketRequestContext) throws -> String {
        guard let ticket = context.parameters.get("ticket"), TicketID.isWellFormed(Substring(ticket)) else {
            throw Problem.ticketNotFound
        }
        return ticket
    }

    static func requireJSON(_ request: Request) throws {
        let header = request.headers[.contentType]
        if header == "application/json" { return }  // what nearly every client sends
        let type = header?.lowercased() ?? ""
        let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
            throw Problem(.unsupportedMediaType, type: "unsupported-media-type", title: "Unsupported media type",
                          detail: "send the body as application/json (got \(type.isEmpty ? "no Content-Type" : type))")
        }
    }

    static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw Problem.validation([.init("Idempotency-Key", "must be 1 to 255 visible ASCII characters")])
        }
        return key
    }

    static func etag(_ version: Int) -> String { "\"v\(version)\"" }

    static func etagMatches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { candidate in
            let c = candidate.trimmingCharacters(in: .whitespaces)
            return c == "*" || c == etag || c == "W/" + etag
        }
    }
}

