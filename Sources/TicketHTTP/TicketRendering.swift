import Hummingbird
import TicketCore
import TicketStore

/// The JSON bodies of tickets and orders.
extension APIEnvironment {
    /// The customer's ticket body: `position` only while queued, `estimated_ready_at` while
    /// queued or cooking.
    func ticketJSON(_ order: Order, position: Int?, now: Timestamp) -> JSONWriter {
        var w = JSONWriter()
        w.beginObject()
        w.key("ticket"); w.value(order.ticket)
        w.key("number"); w.value(order.number)
        w.key("status"); w.value(order.status.rawValue)
        w.key("version"); w.value(order.version)
        if order.status == .queued { w.key("position"); w.value(position ?? 0) }
        if let eta = estimatedReadyAt(order, position: position, now: now) {
            w.key("estimated_ready_at"); w.value(eta)
        }
        w.key("items"); writeItems(order.items, to: &w)
        w.key("customer"); w.value(order.customer)
        w.key("note"); w.value(order.note)
        w.key("priority"); w.value(order.priority.rawValue)
        w.key("created_at"); w.value(order.createdAt)
        w.key("cooking_at"); w.value(order.cookingAt)
        w.key("ready_at"); w.value(order.readyAt)
        w.key("finished_at"); w.value(order.finishedAt)
        w.endObject()
        return w
    }

    /// The operator's view: every field of the order.
    func writeOperatorOrder(_ order: Order, to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(order.id)
        w.key("ticket"); w.value(order.ticket)
        w.key("number"); w.value(order.number)
        w.key("status"); w.value(order.status.rawValue)
        w.key("version"); w.value(order.version)
        w.key("priority"); w.value(order.priority.rawValue)
        w.key("items"); writeItems(order.items, to: &w)
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

    func writeItems(_ items: [OrderLine], to w: inout JSONWriter) {
        w.beginArray()
        for line in items {
            w.element()
            w.beginObject()
            w.key("item"); w.value(line.item)
            w.key("quantity"); w.value(line.quantity)
            w.endObject()
        }
        w.endArray()
    }

    func estimatedReadyAt(_ order: Order, position: Int?, now: Timestamp) -> Timestamp? {
        let cookingFor = order.cookingAt.map { now.seconds(since: $0) }
        guard let seconds = estimator.secondsUntilReady(
            status: order.status, cookSeconds: order.cookSeconds, position: position, cooks: settings.cooks,
            averageCookSeconds: max(order.cookSeconds, 0.5), cookingFor: cookingFor) else { return nil }
        let start = order.status == .queued ? max(now, order.availableAt) : now
        return start.adding(seconds: seconds)
    }

    /// A suggested poll interval in whole seconds: about the time left, 1 to 30.
    func pollInterval(_ order: Order, position: Int?, now: Timestamp) -> Int {
        guard let eta = estimatedReadyAt(order, position: position, now: now) else { return 5 }
        let left = eta.seconds(since: now)
        return Int(min(30, max(1, left.rounded(.up))))
    }
}

extension JSONWriter {
    func response(_ status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
