import Hummingbird
import TicketCore
import TicketStore

/// The operator API: orders by status, one order with its history, cancel and requeue, behind
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
    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
