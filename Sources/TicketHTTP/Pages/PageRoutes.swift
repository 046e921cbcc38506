import HTTPTypes
import Hummingbird

/// The pages people look at: the public board at `/` and `/board`, a customer's ticket at
/// `/t/{ticket}`, the kitchen display at `/kitchen`, the operator console at `/admin`, their
/// files under `/assets/`, and `/favicon.ico`. Static files embedded at build time
/// (`PageAssets`); the browser renders, the daemon serves JSON and streams.
///
/// Every answer carries an `ETag` (a `304` for a matching `If-None-Match`), `Cache-Control:
/// no-cache` (revalidated on each load, so an upgraded daemon's pages are never mixed with old
/// files), a strict `Content-Security-Policy` (this origin only, no inline script or style),
/// `Referrer-Policy: no-referrer` (a ticket page's URL is a secret) and `X-Content-Type-Options:
/// nosniff`. Not part of the API: not in `/openapi.json`.
enum PageRoutes {
    struct Route: Sendable {
        /// Hummingbird pattern.
        let path: String
        /// The file served; nil for `/assets/:file` (the file named in the path).
        let asset: String?
    }

    static let all: [Route] = [
        Route(path: "/", asset: "board.html"),
        Route(path: "/board", asset: "board.html"),
        Route(path: "/t/:ticket", asset: "ticket.html"),
        Route(path: "/kitchen", asset: "kitchen.html"),
        Route(path: "/admin", asset: "admin.html"),
        Route(path: "/favicon.ico", asset: "favicon.ico"),
        Route(path: "/assets/:file", asset: nil),
    ]

    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    /// Every page route (GET only), with its handler.
    static func routes(_ env: APIEnvironment) -> [APIRouter.Definition] {
        all.map { route in
            (.get, route.path, { request, context in
                let name = try route.asset ?? assetName(context)
                return try respond(name, request: request, env: env)
            })
        }
    }

    /// The file an `/assets/:file` path names: a style sheet, a module or an image of `web/`.
    static func assetName(_ context: TicketRequestContext) throws -> String {
        guard let name = context.parameters.get("file"), PageAssets.all[name] != nil, !name.hasSuffix(".html") else {
            throw Problem(.notFound, type: "not-found", title: "Not found", detail: "no such file")
        }
        return name
    }

    static func respond(_ name: String, request: Request, env: APIEnvironment) throws -> Response {
        let operatorAccess = env.settings.adminToken != nil
        guard let asset = PageAssets.withOperatorAccess[operatorAccess]?[name] ?? PageAssets.all[name] else {
            throw Problem(.notFound, type: "not-found", title: "Not found", detail: "no such file")
        }
        var headers = HTTPFields()
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.referrerPolicy] = "no-referrer"
        headers[.xContentTypeOptions] = "nosniff"
        if let match = request.headers[.ifNoneMatch], CustomerRoutes.etagMatches(match, asset.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}

extension HTTPField.Name {
    // Names HTTPTypes does not predefine (literal, valid tokens: the unwrap cannot fail).
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
