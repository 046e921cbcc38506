import Hummingbird
import TicketCore
import TicketStore

/// What the operator and kitchen routes share: the bearer-token check, request bodies of known
/// fields, and answering with the operator's view of an order.
extension APIEnvironment {
    /// 403 when no token is configured; 401 with `WWW-Authenticate` for a missing or wrong one.
    func authorize(_ request: Request) throws {
        guard let token = settings.adminToken else {
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


    /// The operator's view of the order a store operation returns, or its error as a problem.
    func orderAnswer(_ body: () async throws -> Order) async throws -> Response {
        do {
            let order = try await body()
            var w = JSONWriter()
            writeOperatorOrder(order, to: &w)
            return w.response()
        } catch let error as StoreError {
            throw Problem.from(error)
        }
    }

    /// A JSON object body with only `fields` (an unknown one is refused, naming it).
    func body(_ request: Request, fields: Set<String>) async throws -> [String: JSONValue] {
        try CustomerRoutes.requireJSON(request)
        var request = request
        let buffer = try await request.collectBody(upTo: settings.maxBodyBytes)
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
}

/// Parsing of request parts shared by the operator and kitchen routes.
enum RequestBody {
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
