import Hummingbird
import TicketCore
import TicketStore

/// The operator API: orders by status, one order with its history, cancel and requeue, the
/// console's figures, behind
/// `Authorization: Bearer <admin token>`.
struct OperatorRoutes: Sendable {
    let env: APIEnvironment

    /// The handlers of the operator's routes, by `operationId` (`APIRoutes.all` says where).
    var handlers: [String: APIRoutes.Handler] {
        [
            "listOrders": { request, _ in
                try self.env.authorize(request)
                return try await self.listOrders(request)
            },
            "getOrder": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                guard let (order, events) = try await self.env.store.orderWithEvents(id: id) else { throw Problem.orderNotFound }
                var w = JSONWriter()
                self.writeOrder(order, events: events, to: &w)
                return w.response()
            },
            "cancelOrder": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                return try await self.env.orderAnswer { try await self.env.store.operatorCancel(id: id) }
            },
            "requeueOrder": { request, context in
                try self.env.authorize(request)
                let id = try RequestBody.orderID(context)
                return try await self.env.orderAnswer { try await self.env.store.requeue(id: id) }
            },
            "getStats": { request, _ in
                try self.env.authorize(request)
                return try await self.stats()
            },
        ]
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

    /// The console's figures: live counts now, and the last 15 minutes in 30-second buckets
    /// (orders placed and finished, waits and cooking times of the orders that became ready,
    /// live counts sampled as each bucket ran), from the change feed (`Activity`).
    func stats() async throws -> Response {
        let counts = try await env.store.liveCounts()
        let now = env.store.now()
        let buckets = env.live.activity.window(now: now)
        var total = Activity.Bucket(start: 0)
        var waits = Activity.Histogram(), cooks = Activity.Histogram()
        for b in buckets {
            total.placed += b.placed; total.ready += b.ready; total.pickedUp += b.pickedUp
            total.cancelled += b.cancelled; total.failed += b.failed; total.expired += b.expired
            total.requeued += b.requeued
            waits.merge(b.waits)
            cooks.merge(b.cooks)
        }
        func seconds(_ value: Double?) -> Double? { value.map { ($0 * 10).rounded() / 10 } }
        func counters(_ b: Activity.Bucket, to w: inout JSONWriter) {
            w.key("placed"); w.value(b.placed)
            w.key("ready"); w.value(b.ready)
            w.key("picked_up"); w.value(b.pickedUp)
            w.key("cancelled"); w.value(b.cancelled)
            w.key("failed"); w.value(b.failed)
            w.key("expired"); w.value(b.expired)
            w.key("requeued"); w.value(b.requeued)
        }
        var w = JSONWriter(capacity: 8192)
        w.beginObject()
        w.key("at"); w.value(now)
        w.key("bucket_seconds"); w.value(Int(Activity.bucketMillis / 1000))
        w.key("window_seconds"); w.value(Activity.windowSeconds)
        w.key("live")
        w.beginObject()
        for status in OrderStatus.live { w.key(status.rawValue); w.value(counts[status] ?? 0) }
        w.endObject()
        w.key("window")
        w.beginObject()
        counters(total, to: &w)
        w.key("wait_p50_seconds"); w.value(seconds(waits.quantileSeconds(0.5)))
        w.key("wait_p90_seconds"); w.value(seconds(waits.quantileSeconds(0.9)))
        w.key("cook_p50_seconds"); w.value(seconds(cooks.quantileSeconds(0.5)))
        w.endObject()
        w.key("buckets")
        w.beginArray()
        for b in buckets {
            w.element()
            w.beginObject()
            w.key("start"); w.value(Timestamp(milliseconds: b.start))
            counters(b, to: &w)
            w.key("wait_p50_seconds"); w.value(seconds(b.waits.quantileSeconds(0.5)))
            w.key("wait_p90_seconds"); w.value(seconds(b.waits.quantileSeconds(0.9)))
            w.key("cook_p50_seconds"); w.value(seconds(b.cooks.quantileSeconds(0.5)))
            w.key("live")
            if let live = b.live {
                w.beginObject()
                for status in OrderStatus.live { w.key(status.rawValue); w.value(live[status] ?? 0) }
                w.endObject()
            } else {
                w.value(Optional<String>.none)
            }
            w.endObject()
        }
        w.endArray()
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
}

extension JSONWriter {
    /// A number, or null.
    mutating func value(_ d: Double?) {
        if let d { value(d) } else { value(Optional<String>.none) }
    }

    /// A whole number, or null.
    mutating func value(_ i: Int?) {
        if let i { value(i) } else { value(Optional<String>.none) }
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
