import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TicketStore

/// The API's responder: the router's, with what every request gets around it.
///
/// - Every error becomes `application/problem+json`: problems as they are, Hummingbird's own
///   errors (404, 413, …) as problems, malformed HTTP met while reading a body as 400, a known
///   path with another method as 405 with `Allow`, and anything unexpected as a logged 500 that
///   says no more than needed.
/// - Requests are counted by route, method and status, and timed (`ticketd_http_…`).
///
/// Both are done here rather than as router middleware: each middleware adds async frames to
/// every route's call chain (the middleware's, its responder's and a closure's), and a long poll
/// keeps its whole chain allocated while it waits. With the two as middleware, 10,000 held long
/// polls took 4 KB more each (the task allocator's slabs).
public struct APIResponder: HTTPResponder {
    public typealias Context = TicketRequestContext
    let router: RouterResponder<TicketRequestContext>
    let metrics: APIMetrics
    /// The endpoint path Hummingbird's router gives a request that matched no route.
    static let notFoundRoute = "NotFound"

    @inline(__always)  // into the server's own frame: one async frame less under every request
    public func respond(to request: Request, context: TicketRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        let outcome: Result<Response, any Error>
        do {
            outcome = .success(try await router.respond(to: request, context: context))
        } catch {
            outcome = .failure(error)
        }
        return finish(outcome, request: request, context: context, since: start)
    }

    /// The answer to a request the router is done with, counted. (Its own function: what it works
    /// with stays out of the async frame that a waiting request keeps.)
    @inline(never)
    func finish(_ outcome: Result<Response, any Error>, request: Request, context: TicketRequestContext,
                since start: ContinuousClock.Instant) -> Response {
        var response: Response
        switch outcome {
        case .success(let answer): response = answer
        case .failure(let error):
            response = Self.answer(to: error, method: request.method, path: request.uri.path, logger: context.logger)
        }
        let route = context.endpointPath ?? "unmatched"
        if route == Self.notFoundRoute {
            // No route matched: the router answered its own bare 404 (it answers Hummingbird's
            // errors itself; the handlers throw none, see `Request.wholeBody`).
            response = Self.problem(for: HTTPError(.notFound), method: request.method, path: request.uri.path).response()
        }
        let (counter, timer) = metrics.request(route: route, method: request.method.rawValue, status: Int(response.status.code))
        counter.increment()
        let elapsed = ContinuousClock.now - start
        timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return response
    }

    static func answer(to error: any Error, method: HTTPRequest.Method, path: String, logger: Logger) -> Response {
        switch error {
        case let problem as Problem:
            return problem.response()
        case let error as StoreError:
            return Problem.from(error).response()
        case let error as HTTPParserError:
            // The body did not parse (bad chunked encoding, input ended mid-body): the client's
            // fault, and the connection cannot carry another request.
            var headers = HTTPFields()
            headers[.connection] = "close"
            return Problem(.badRequest, type: "bad-request", title: "Bad request",
                           detail: "the request is not valid HTTP/1.1: \(error)", headers: headers).response()
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

extension Request {
    /// The request's whole body, at most `limit` bytes; a larger one is the 413 problem.
    /// (Hummingbird's own error for it would be answered by the router itself, as a bare 413.)
    func wholeBody(atMost limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch let error as any HTTPResponseError {
            throw APIResponder.problem(for: HTTPError(error.status), method: method, path: uri.path)
        }
    }
}
