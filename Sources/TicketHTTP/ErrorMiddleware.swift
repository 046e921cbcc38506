import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TicketStore

/// Turns every error into `application/problem+json`: problems as they are, Hummingbird's own
/// errors (404, 413, …) into problems, malformed HTTP met while reading a body into 400, a known path with another method into 405 with `Allow`,
/// and anything unexpected into a logged 500 that says no more than needed.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.response()
        } catch let error as StoreError {
            return Problem.from(error).response()
        } catch let error as HTTPError {
            return Self.problem(for: error, request: request).response()
        } catch let error as HTTPParserError {
            // The body did not parse (bad chunked encoding, input ended mid-body): the client's
            // fault, and the connection cannot carry another request.
            var headers = HTTPFields()
            headers[.connection] = "close"
            return Problem(.badRequest, type: "bad-request", title: "Bad request",
                           detail: "the request is not valid HTTP/1.1: \(error)", headers: headers).response()
        } catch is NIOTooManyBytesError {
            // `Request.collectBody(upTo:)` throws this (not an HTTPError) past the limit.
            return Self.problem(for: HTTPError(.contentTooLarge), request: request).response()
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Problem(.internalServerError, type: "internal", title: "Internal error",
                           detail: "the request failed unexpectedly; it has been logged").response()
        }
    }

    static func problem(for error: HTTPError, request: Request) -> Problem {
        switch error.status {
        case .notFound:
            let methods = APIRoutes.methods(matching: request.uri.path)
            if !methods.isEmpty {
                var headers = HTTPFields()
                headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
                return Problem(.methodNotAllowed, type: "method-not-allowed", title: "Method not allowed",
                               detail: "\(request.method.rawValue) is not served at \(request.uri.path); allowed: \(headers[.allow] ?? "")",
                               headers: headers)
            }
            return Problem(.notFound, type: "not-found", title: "Not found", detail: "no route \(request.uri.path)")
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
