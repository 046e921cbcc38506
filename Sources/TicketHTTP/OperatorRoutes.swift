import Hummingbird
import TicketCore
import TicketStore

/// The operator API (orders, cancel, requeue) and the kitchen API for external cooks, both
/// behind `Authorization: Bearer <admin token>`.
struct OperatorRoutes: Sendable {
    let env: APIEnvironment

    func register(on router: Router<TicketRequestContext>) {
        router.get("/v1/orders") { request, _ in
            try self.authorize(request)
            return try await self.listOrders(request)
        }
        router.get("/v1/orders/:id") { request, context in
            try self.authorize(request)
            let id = try Self.orderID(context)
            guard let (order, events) = try await self.env.store.orderWithEvents(id: id) else { throw Problem.orderNotFound }
            var w = JSONWriter()
            self.writeOrder(order, events: events, to: &w)
            return w.response()
        }
        router.post("/v1/orders/:id/cancel") { request, context in
            try self.authorize(request)
            let id = try Self.orderID(context)
            return try await self.orderAnswer { try await self.env.store.operatorCancel(id: id) }
        }
        router.post("/v1/orders/:id/requeue") { request, context in
            try self.authorize(request)
            let id = try Self.orderID(context)
            return try await self.orderAnswer { try await self.env.store.requeue(id: id) }
        }
        router.post("/v1/kitchen/claim") { request, context in
            try self.authorize(request)
            return try await self.claim(request)
        }
        router.post("/v1/kitchen/orders/:id/renew") { request, context in
            try self.authorize(request)
            let id = try Self.orderID(context)
            let body = try await self.body(request, fields: ["lease", "lease_seconds"])
            let lease = try Self.lease(body)
            let seconds = try Self.number(body["lease_seconds"], field: "lease_seconds", range: 1...3600) ?? 30
            do {
                let expires = try await self.env.store.renewLease(orderID: id, lease: lease, leaseSeconds: seconds)
                var w = JSONWriter()
                w.beginObject()
                w.key("lease"); w.value(lease)
                w.key("lease_expires_at"); w.value(expires.rfc3339)
                w.endObject()
                return w.response()
            } catch let error as StoreError {
                throw Problem.from(error)
            }
        }
        router.post("/v1/kitchen/orders/:id/ready") { request, context in
            try self.authorize(request)
            let id = try Self.orderID(context)
            let lease = try Self.lease(try await self.body(request, fields: ["lease"]))
            return try await self.orderAnswer { try await self.env.store.markReady(orderID: id, lease: lease) }
        }
        router.post("/v1/kitchen/orders/:id/fail") { request, context in
            try self.authorize(request)
            let id = try Self.orderID(context)
            let body = try await self.body(request, fields: ["lease", "error", "retry"])
            let lease = try Self.lease(body)
            var error = "failed"
            switch body["error"] {
            case nil, .null?: break
            case .string(let s)?: error = String(s.prefix(2000))
            default: throw Problem.validation([.init("error", "must be a string")])
            }
            var retry = true
            switch body["retry"] {
            case nil, .null?: break
            case .bool(let b)?: retry = b
            default: throw Problem.validation([.init("retry", "must be true or false")])
            }
            return try await self.orderAnswer {
                try await self.env.store.failAttempt(orderID: id, lease: lease, error: error, retry: retry)
            }
        }
    }

    // MARK: Authorization

    /// 403 when no token is configured; 401 with `WWW-Authenticate` for a missing or wrong one.
    func authorize(_ request: Request) throws {
        guard let token = env.settings.adminToken else {
            throw Problem(.forbidden, type: "operator-api-disabled", title: "Operator API disabled",
                          detail: "no admin_token_file is configured, so the operator and kitchen APIs are off")
        }
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = "Bearer realm=\"ticketd\""
        guard let header = request.headers[.authorization] else {
            throw Problem(.unauthorized, type: "unauthorized", title: "Unauthorized",
                          detail: "send Authorization: Bearer <admin token>", headers: headers)
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.prefix(prefix.count).lowercased() == prefix,
              Self.constantTimeEqual(Array(header.utf8.dropFirst(prefix.count)), Array(token.utf8)) else {
            headers[.wwwAuthenticate] = "Bearer realm=\"ticketd\", error=\"invalid_token\""
            throw Problem(.unauthorized, type: "unauthorized", title: "Unauthorized",
                          detail: "the bearer token is not the admin token", headers: headers)
        }
    }

    /// Compares without an early exit, so the time taken does not tell how much matched.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }

    // MARK: Orders

    func listOrders(_ request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var errors: [Problem.FieldError] = []
        var status: OrderStatus?
        if let s = query["status"] {
            if let parsed = OrderStatus(rawValue: String(s)) { status = parsed } else {
                errors.append(.init("status", "must be one of \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        var limit = 100
        if let l = query["limit"] {
            if let parsed = Int(String(l)), (1...1000).contains(parsed) { limit = parsed } else {
                errors.append(.init("limit", "must be a whole number from 1 to 1000"))
            }
        }
        var after: Int64?
        if let a = query["after"] {
            if let parsed = Int64(String(a)), parsed >= 0 { after = parsed } else {
                errors.append(.init("after", "must be a cursor from an earlier answer's next (a whole number from 0 to \(Int64.max))"))
            }
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        let orders = try await env.store.listOrders(status: status, limit: limit + 1, after: after)
        let page = orders.prefix(limit)
        var w = JSONWriter()
        w.beginObject()
        w.key("orders")
        w.beginArray()
        for order in page { w.element(); env.writeOperatorOrder(order, to: &w) }
        w.endArray()
        w.key("next"); w.value(orders.count > limit ? page.last.map { String($0.id) } : nil)
        w.endObject()
        return w.response()
    }

    func writeOrder(_ order: Order, events: [OrderEventRecord], to w: inout JSONWriter) {
        var inner = JSONWriter()
        env.writeOperatorOrder(order, to: &inner)
        // Reopen the object to append the events.
        w.bytes.append(contentsOf: inner.bytes.dropLast())
        w.raw(",\"events\":")
        w.beginArray()
        for e in events {
            w.element()
            w.beginObject()
            w.key("from"); w.value(e.from?.rawValue)
            w.key("to"); w.value(e.to.rawValue)
            w.key("at"); w.value(e.at.rfc3339)
            w.key("detail"); w.value(e.detail)
            w.endObject()
        }
        w.endArray()
        w.raw("}")
    }

    func orderAnswer(_ body: () async throws -> Order) async throws -> Response {
        do {
            let order = try await body()
            var w = JSONWriter()
            env.writeOperatorOrder(order, to: &w)
            return w.response()
        } catch let error as StoreError {
            throw Problem.from(error)
        }
    }

    // MARK: Kitchen

    func claim(_ request: Request) async throws -> Response {
        let body = try await self.body(request, fields: ["cook", "lease_seconds", "wait"])
        let cook: String
        switch body["cook"] {
        // Counted in Unicode code points, as the document's maxLength counts.
        case .string(let s)? where !s.isEmpty && s.unicodeScalars.count <= 64: cook = s
        case nil: throw Problem.validation([.init("cook", "is required: a name of 1 to 64 characters")])
        default: throw Problem.validation([.init("cook", "must be a name of 1 to 64 characters")])
        }
        let leaseSeconds = try Self.number(body["lease_seconds"], field: "lease_seconds", range: 1...3600) ?? 30
        let cap = env.settings.longPollMaxSeconds
        let wait = try Self.number(body["wait"], field: "wait", range: 0...cap) ?? 0
        let deadline = ContinuousClock.now + .milliseconds(Int64((wait * 1000).rounded()))
        let state = env.state
        let claim: Claim?
        do {
            claim = try await env.store.claim(cook: cook, leaseSeconds: leaseSeconds, limit: 1, until: deadline) {
                !state.isStopping
            }.first
        } catch let error as StoreError {
            throw Problem.from(error)
        }
        guard let claim else { return Response(status: .noContent) }
        var w = JSONWriter()
        w.beginObject()
        w.key("order")
        env.writeOperatorOrder(claim.order, to: &w)
        w.key("lease"); w.value(claim.lease)
        w.key("lease_expires_at"); w.value(claim.leaseExpiresAt.rfc3339)
        w.endObject()
        return w.response()
    }

    // MARK: Parsing

    func body(_ request: Request, fields: Set<String>) async throws -> [String: JSONValue] {
        try CustomerRoutes.requireJSON(request)
        var request = request
        let buffer = try await request.collectBody(upTo: env.settings.maxBodyBytes)
        guard let value = JSONValue.parse(buffer.readableBytesView) else {
            throw Problem.badRequest("the body is not valid JSON")
        }
        guard case .object(let object) = value else {
            throw Problem.validation([.init("(body)", "must be a JSON object")])
        }
        let unknown = object.keys.sorted().filter { !fields.contains($0) }
        if !unknown.isEmpty {
            throw Problem.validation(unknown.map { .init($0, "unknown field (allowed: \(fields.sorted().joined(separator: ", ")))") })
        }
        return object
    }

    static func lease(_ body: [String: JSONValue]) throws -> String {
        guard case .string(let lease)? = body["lease"], !lease.isEmpty else {
            throw Problem.validation([.init("lease", "is required: the lease from the claim")])
        }
        return lease
    }

    static func number(_ value: JSONValue?, field: String, range: ClosedRange<Double>) throws -> Double? {
        switch value {
        case nil, .null?: return nil
        case .number(let d)? where range.contains(d): return d
        default:
            throw Problem.validation([.init(field, "must be a number from \(JSONWriter.format(range.lowerBound)) to \(JSONWriter.format(range.upperBound))")])
        }
    }

    static func orderID(_ context: TicketRequestContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text), id > 0 else { throw Problem.orderNotFound }
        return id
    }
}

extension JSONWriter {
    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
