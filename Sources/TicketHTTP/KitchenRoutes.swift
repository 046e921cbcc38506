import Hummingbird
import TicketCore
import TicketStore

/// The kitchen API for external cooks and kitchen screens: claim (the next order, or one by
/// id), renew the lease, ready, fail, and the kitchen's live list; behind
/// `Authorization: Bearer <admin token>`.
struct KitchenRoutes: Sendable {
    let env: APIEnvironment

    /// The handlers of the kitchen's routes, by `operationId` (`APIRoutes.all` says where).
    var handlers: [String: APIRoutes.Handler] {
        [
            "claimOrder": { request, _ in
                try self.env.authorize(request)
                return try await self.claim(request)
            },
            "claimOrderByID": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                return try await self.claim(orderID: id, request)
            },
            "streamKitchenEvents": { request, context in
                try self.env.authorize(request)
                return try await LiveStream.response(self.env.live.kitchen, env: self.env, request: request, context: context)
            },
            "renewLease": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                let body = try await self.env.body(request, fields: ["lease", "lease_seconds"])
                let lease = try RequestBody.lease(body)
                let seconds = try RequestBody.number(body["lease_seconds"], field: "lease_seconds", range: 1...3600) ?? 30
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
            },
            "markReady": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                let lease = try RequestBody.lease(try await self.env.body(request, fields: ["lease"]))
                return try await self.env.orderAnswer { try await self.env.store.markReady(orderID: id, lease: lease) }
            },
            "failAttempt": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                let body = try await self.env.body(request, fields: ["lease", "error", "retry"])
                let lease = try RequestBody.lease(body)
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
                return try await self.env.orderAnswer {
                    try await self.env.store.failAttempt(orderID: id, lease: lease, error: error, retry: retry)
                }
            },
        ]
    }

    /// The `cook` of a claim's body: 1 to 64 characters.
    static func cook(_ body: [String: JSONValue]) throws -> String {
        switch body["cook"] {
        // Counted in Unicode code points, as the document's maxLength counts.
        case .string(let s)? where !s.isEmpty && s.unicodeScalars.count <= 64: return s
        case nil: throw Problem.validation([.init("cook", "is required: a name of 1 to 64 characters")])
        default: throw Problem.validation([.init("cook", "must be a name of 1 to 64 characters")])
        }
    }

    /// A kitchen screen's *start* on a card: claims that order while it is queued (409 once it
    /// is not: two screens never cook the same order).
    func claim(orderID: Int64, _ request: Request) async throws -> Response {
        let body = try await env.body(request, fields: ["cook", "lease_seconds"])
        let cook = try Self.cook(body)
        let leaseSeconds = try RequestBody.number(body["lease_seconds"], field: "lease_seconds", range: 1...3600) ?? 30
        guard !env.state.isStopping else {
            throw Problem.unavailable("ticketd is shutting down", retryAfter: 5)
        }
        let claim: Claim
        do {
            claim = try await env.store.claim(orderID: orderID, cook: cook, leaseSeconds: leaseSeconds)
        } catch let error as StoreError {
            throw Problem.from(error)
        }
        return claimResponse(claim)
    }

    func claimResponse(_ claim: Claim) -> Response {
        var w = JSONWriter()
        w.beginObject()
        w.key("order")
        env.writeOperatorOrder(claim.order, to: &w)
        w.key("lease"); w.value(claim.lease)
        w.key("lease_expires_at"); w.value(claim.leaseExpiresAt.rfc3339)
        w.endObject()
        return w.response()
    }

    func claim(_ request: Request) async throws -> Response {
        let body = try await env.body(request, fields: ["cook", "lease_seconds", "wait"])
        let cook = try Self.cook(body)
        let leaseSeconds = try RequestBody.number(body["lease_seconds"], field: "lease_seconds", range: 1...3600) ?? 30
        let cap = env.settings.longPollMaxSeconds
        let wait = try RequestBody.number(body["wait"], field: "wait", range: 0...cap) ?? 0
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
        return claimResponse(claim)
    }
}
