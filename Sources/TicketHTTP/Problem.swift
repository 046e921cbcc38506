import HTTPTypes
import Hummingbird
import TicketCore
import TicketStore

/// An error answered as `application/problem+json` (RFC 9457).
public struct Problem: Error, Sendable {
    /// One field that failed validation.
    public struct FieldError: Sendable, Equatable {
        public var field: String
        public var message: String
        public init(_ field: String, _ message: String) {
            self.field = field
            self.message = message
        }
    }

    public var status: HTTPResponse.Status
    /// A short slug that names the kind of problem (`validation`, `not-found`, …).
    public var type: String
    public var title: String
    public var detail: String
    public var errors: [FieldError]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, type: String, title: String, detail: String,
                errors: [FieldError] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers
    }

    static let contentType = "application/problem+json"

    func response(instance: String? = nil) -> Response {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("type"); w.value("urn:ticketd:problem:" + type)
        w.key("title"); w.value(title)
        w.key("status"); w.value(Int(status.code))
        w.key("detail"); w.value(detail)
        if let instance { w.key("instance"); w.value(instance) }
        if !errors.isEmpty {
            w.key("errors")
            w.beginArray()
            for e in errors {
                w.element()
                w.beginObject()
                w.key("field"); w.value(e.field)
                w.key("message"); w.value(e.message)
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        var headers = self.headers
        headers[.contentType] = Self.contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }

    // MARK: Common problems

    static func validation(_ errors: [FieldError]) -> Problem {
        let first = errors.first.map { "\($0.field): \($0.message)" } ?? "invalid request"
        let more = errors.count > 1 ? " (and \(errors.count - 1) more)" : ""
        return Problem(.unprocessableContent, type: "validation", title: "The request has invalid fields",
                       detail: first + more, errors: errors)
    }

    static func badRequest(_ detail: String) -> Problem {
        Problem(.badRequest, type: "bad-request", title: "Bad request", detail: detail)
    }

    static let ticketNotFound = Problem(.notFound, type: "not-found", title: "Not found",
                                        detail: "no ticket with that id (it may have been pruned)")
    static let orderNotFound = Problem(.notFound, type: "not-found", title: "Not found", detail: "no order with that id")

    static func unavailable(_ detail: String, retryAfter: Int) -> Problem {
        var h = HTTPFields()
        h[.retryAfter] = String(retryAfter)
        return Problem(.serviceUnavailable, type: "unavailable", title: "Service unavailable", detail: detail, headers: h)
    }

    /// The answer to a store error.
    static func from(_ error: StoreError, subject: String = "order") -> Problem {
        switch error {
        case .notFound:
            return subject == "ticket" ? ticketNotFound : orderNotFound
        case .invalidTransition(let t):
            return Problem(.conflict, type: "conflict", title: "Conflict", detail: "\(t.description)")
        case .leaseLost:
            return Problem(.conflict, type: "lease-lost", title: "Lease lost",
                           detail: "the lease no longer holds: it expired, or the order was cancelled or claimed again")
        case .queueFull:
            return unavailable("the queue is full (kitchen.max_queued orders are waiting); try again later", retryAfter: 5)
        case .numbersExhausted:
            return unavailable("every ticket number is in use by a live order; try again later", retryAfter: 5)
        case .idempotencyKeyReused:
            return Problem(.unprocessableContent, type: "idempotency-key-reused", title: "Idempotency-Key reused",
                           detail: "this Idempotency-Key was used with a different body",
                           errors: [FieldError("Idempotency-Key", "used before with a different body")])
        case .unavailable(let why):
            // Reads meet it too (PostgreSQL down or unreachable); what a failed write left is in
            // docs/api.md (nothing, but for a connection lost during a PostgreSQL commit).
            return unavailable("the database is not available now (\(why))", retryAfter: 2)
        case .closed:
            return unavailable("ticketd is shutting down", retryAfter: 5)
        }
    }
}

extension HTTPField.Name {
    // Names HTTPTypes does not predefine (literal, valid tokens: the unwrap cannot fail).
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    static let link = HTTPField.Name("Link")!
}
