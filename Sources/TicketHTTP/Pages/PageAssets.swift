import Hummingbird

/// The pages' files (HTML, CSS, ES modules, the icon), embedded in the binary at build time
/// from the repository's `web/` directory (the target's `web` entry is a symlink to it, built
/// with `.embedInCode`): an installed binary needs no file beside it. A test checks this list
/// against the directory.
enum PageAssets {
    /// One file as it is served.
    struct Asset: Sendable {
        let name: String
        let bytes: [UInt8]
        let contentType: String
        /// A strong validator of the bytes (FNV-1a, 64 bits).
        let etag: String

        init(name: String, bytes: [UInt8]) {
            self.name = name
            self.bytes = bytes
            self.contentType = PageAssets.contentType(of: name)
            self.etag = "\"\(PageAssets.digest(bytes))\""
        }
    }

    /// Every file of `web/`, by name.
    static let all: [String: Asset] = {
        let files: [(String, [UInt8])] = [
            ("admin.html", PackageResources.admin_html),
            ("admin.js", PackageResources.admin_js),
            ("board.html", PackageResources.board_html),
            ("board.js", PackageResources.board_js),
            ("common.js", PackageResources.common_js),
            ("favicon.ico", PackageResources.favicon_ico),
            ("kitchen.html", PackageResources.kitchen_html),
            ("kitchen.js", PackageResources.kitchen_js),
            ("style.css", PackageResources.style_css),
            ("ticket.html", PackageResources.ticket_html),
            ("ticket.js", PackageResources.ticket_js),
        ]
        var out: [String: Asset] = [:]
        for (name, bytes) in files { out[name] = Asset(name: name, bytes: bytes) }
        return out
    }()

    /// The placeholder in the kitchen's and the console's HTML that says whether operator
    /// access is on (`on`/`off`), replaced as the page is served: the page says so without a
    /// request that would fail.
    static let operatorAccessPlaceholder = "__OPERATOR_ACCESS__"

    /// `name` with the operator-access placeholder filled in (the HTML pages that have one).
    static let withOperatorAccess: [Bool: [String: Asset]] = {
        var out: [Bool: [String: Asset]] = [true: [:], false: [:]]
        for (name, asset) in all where name.hasSuffix(".html") {
            let text = String(decoding: asset.bytes, as: UTF8.self)
            guard text.contains(operatorAccessPlaceholder) else { continue }
            for on in [true, false] {
                out[on]?[name] = Asset(name: name, bytes: Array(text.replacingOccurrences(
                    of: operatorAccessPlaceholder, with: on ? "on" : "off").utf8))
            }
        }
        return out
    }()

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js": return "text/javascript; charset=utf-8"
        case "ico": return "image/x-icon"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        default: return "application/octet-stream"
        }
    }

    static func digest(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            hash ^= UInt64(b)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
