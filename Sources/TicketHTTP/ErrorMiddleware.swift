import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TicketStore

/// Turns every error into `application/problem+json`: problems as they are, Hummingbird's own
/// errors (404, 413, …) into problems, malformed HTTP met while reading a body into 400, a known path with another method into 405 with `Allow`,
/// and anything unexpected into a logged 500 that says no more than needed.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Only what an error answer needs is kept across the wait for `next`: a long poll or an SSE
    /// stream waits here, and holding the whole request and context in this frame cost 2.8 KB
    /// per waiting request (28 MB with 10,000 long polls held).
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let method = request.method
        let uri = request.uri  // its path is only worked out when an error needs it
        let logger = context.logger
        do {
            return try await next(request, context)
        } catch {
            return Self.answer(to: error, method: method, path: uri.path, logger: logger)
        }
    }

    static func answer(to error: any Error, method: HTTPRequest.Method, path: String, logger: Logger) -> Response {
        switch error {
        case let problem as Problem:
            return problem.response()
        case let error as StoreError:
            return Problem.from(error).response()
        case let error as HTTPError:
            return problem(for: error, method: method, path: path).response()
        case let error as HTTPParserError:
            // The body did not parse (bad chunked encoding, input ended mid-body): the client's
            // fault, and the connection cannot carry another request.
            var headers = HTTPFields()
            headers[.connection] = "close"
            return Problem(.badRequest, type: "bad-request", title: "Bad request",
                           detail: "the request is not valid HTTP/1.1: \(error)", headers: headers).response()
        case is NIOTooManyBytesError:
            // `Request.collectBody(upTo:)` throws this (not an HTTPError) past the limit.
            return problem(for: HTTPError(.contentTooLarge), method: method, path: path).response()
        default:
            logger.error("unexpected error", metadata: ["error": "\(error)", "path": "\(path)"])
            return Problem(.internalServerError, type: "internal", title: "Internal error",
                           detail: "the request failed unexpectedly; it has been logged").response()
        }
    }

    static func problem(for error: HTTPError, method: HTTPRequest.Method, path: String) -> Problem {
        switch error.status {
        case .notFound:
            let methods = APIRoutes.methods(matching: path) + PageRoutes.methods(matching: path)
            if !methods.isEmpty {
                var headers = HTTPFields()
                headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
                return Problem(.methodNotAllowed, type: "method-not-allowed", title: "Method not allowed",
                               detail: "\(method.rawValue) is not served at \(path); allowed: \(headers[.allow] ?? "")",
                               headers: headers)
            }
            return Problem(.notFound, type: "not-found", title: "Not found", detail: "no route \(path)")
        case .contentTooLarge:
            return Problem(.contentTooLarge, type: "too-large", title: "Content too large",
                           detail: "the request body is larger than the limit (max_body_bytes)")
        default:
            return Problem(error.status, type: "http", title: error.status.reasonPhrase,
                           detail: error.body ?? error.status.reasonPhrase, headers: error.headers)
        }
    }
}

/// Counts requests by route, method and status and times them (`ticketd_http_…`).
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: APIMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let route = context.endpointPath ?? "unmatched"
        let (counter, timer) = metrics.request(route: route, method: request.method.rawValue, status: Int(response.status.code))
        counter.increment()
        let elapsed = ContinuousClock.now - start
        timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return response
    }
}
