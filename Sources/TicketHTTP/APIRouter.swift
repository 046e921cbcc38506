import HTTPTypes
import Hummingbird

/// The routes of the API and the pages: which handler a request's method and path go to, with
/// the path's parameters, or which methods the path has when its own is not one of them (405).
///
/// Patterns are Hummingbird's (`/v1/tickets/:ticket`); a path is matched segment by segment,
/// empty segments ignored, constants compared byte for byte, as Hummingbird's router does
/// (case-sensitive, no wildcards: this API has none).
///
/// Why not Hummingbird's `Router`: callgrind put its trie at about 20,000 instructions to resolve
/// `GET /v1/tickets/{ticket}`, a tenth of a whole poll (Unicode-aware `Substring` comparisons,
/// generic parameter storage), and its responder is one more async frame that every waiting long
/// poll keeps. Thirty patterns compared as bytes cost a small fraction of that.
struct APIRouter: Sendable {
    struct Route: Sendable {
        let method: HTTPRequest.Method
        let segments: [Segment]
        /// The path as the OpenAPI document writes it (`/v1/tickets/{ticket}`): the metrics label.
        let label: String
        let handler: APIRoutes.Handler
    }

    /// A route as the routes files define it: method, Hummingbird pattern, handler.
    typealias Definition = (method: HTTPRequest.Method, path: String, handler: APIRoutes.Handler)

    enum Segment: Sendable {
        case constant([UInt8])
        case parameter(Substring)
    }

    enum Match {
        case route(Route, Parameters)
        /// The path has routes, none for this method: the methods it has.
        case otherMethods([HTTPRequest.Method])
        case none
    }

    private let routes: [Route]

    /// The first of two equal patterns wins.
    init(_ routes: [Definition]) {
        self.routes = routes.map { route in
            let segments = route.path.split(separator: "/", omittingEmptySubsequences: true).map { part -> Segment in
                part.hasPrefix(":") ? .parameter(part.dropFirst()) : .constant(Array(part.utf8))
            }
            return Route(method: route.method, segments: segments, label: APIRoutes.openAPIPath(route.path),
                         handler: route.handler)
        }
    }

    func match(_ method: HTTPRequest.Method, path: String) -> Match {
        let parts = Self.segments(of: path)
        var others: [HTTPRequest.Method] = []
        for route in routes where route.segments.count == parts.count {
            guard let parameters = Self.parameters(of: route, in: path, parts: parts) else { continue }
            if route.method == method { return .route(route, parameters) }
            if !others.contains(route.method) { others.append(route.method) }
        }
        return others.isEmpty ? .none : .otherMethods(others)
    }

    /// The byte ranges of a path's non-empty segments.
    private static func segments(of path: String) -> [Range<String.UTF8View.Index>] {
        let utf8 = path.utf8
        var parts: [Range<String.UTF8View.Index>] = []
        var start = utf8.startIndex
        var i = start
        while i != utf8.endIndex {
            if utf8[i] == UInt8(ascii: "/") {
                if start != i { parts.append(start..<i) }
                start = utf8.index(after: i)
            }
            i = utf8.index(after: i)
        }
        if start != utf8.endIndex { parts.append(start..<utf8.endIndex) }
        return parts
    }

    /// The route's parameters if `path` (cut into `parts`) matches its pattern, else nil.
    private static func parameters(of route: Route, in path: String,
                                   parts: [Range<String.UTF8View.Index>]) -> Parameters? {
        var parameters = Parameters()
        for (segment, range) in zip(route.segments, parts) {
            switch segment {
            case .constant(let bytes):
                guard path.utf8[range].elementsEqual(bytes) else { return nil }
            case .parameter(let name):
                parameters[name] = Substring(path.utf8[range])
            }
        }
        return parameters
    }
}
