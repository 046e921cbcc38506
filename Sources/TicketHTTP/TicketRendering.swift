import Hummingbird
import TicketCore
import TicketStore

/// The JSON bodies of tickets and orders.
extension APIEnvironment {
    /// How estimates are made now: the kitchen's measured pace and the cooks.
    var estimate: ReadyEstimate { ReadyEstimate(estimator: estimator, cooks: settings.cooks) }

    /// The customer's ticket body (`TicketBody`): `position` only while queued,
    /// `estimated_ready_at` while queued or cooking.
    func ticketJSON(_ order: Order, position: Int?, now: Timestamp) -> JSONWriter {
        var w = JSONWriter()
        TicketBody.write(order, position: position, estimate: estimate, now: now, to: &w)
        return w
    }

    /// The operator's view: every field of the order.
    func writeOperatorOrder(_ order: Order, to w: inout JSONWriter) {
        OperatorView.write(order, to: &w)
    }
}

extension JSONWriter {
    func response(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// The operator's view of an order: every field (the operator API, kitchen claims, the kitchen's
/// live list).
enum OperatorView {
    static func write(_ order: Order, to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(order.id)
        w.key("ticket"); w.value(order.ticket)
        w.key("number"); w.value(order.number)
        w.key("status"); w.value(order.status.rawValue)
        w.key("version"); w.value(order.version)
        w.key("priority"); w.value(order.priority.rawValue)
        w.key("items"); OrderItemsJSON.write(order.items, to: &w)
        w.key("customer"); w.value(order.customer)
        w.key("note"); w.value(order.note)
        w.key("attempts"); w.value(order.attempts)
        w.key("max_attempts"); w.value(order.maxAttempts)
        w.key("last_error"); w.value(order.lastError)
        w.key("lease_owner"); w.value(order.leaseOwner)
        w.key("lease_expires_at"); w.value(order.leaseExpiresAt)
        w.key("cook_seconds"); w.value(order.cookSeconds)
        w.key("available_at"); w.value(order.availableAt)
        w.key("created_at"); w.value(order.createdAt)
        w.key("cooking_at"); w.value(order.cookingAt)
        w.key("ready_at"); w.value(order.readyAt)
        w.key("finished_at"); w.value(order.finishedAt)
        w.endObject()
    }
}
