import Foundation

/// Where `database:` points: a SQLite file, or a PostgreSQL database shared by many nodes.
public enum DatabaseLocation: Sendable, Equatable {
    case sqlite(path: String)
    case postgres(PostgresLocation)

    /// Reads `database:` (or `--db`): a `postgres://` (or `postgresql://`) URL, else a file path.
    /// Throws a `ConfigurationError` naming `key` for a URL that cannot be used — one holding a
    /// password among them: the password belongs in `database_password_file`.
    public static func parse(_ text: String, key: String = "database") throws -> DatabaseLocation {
        let lower = text.lowercased()
        guard lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://") else { return .sqlite(path: text) }
        return .postgres(try PostgresLocation(url: text, key: key))
    }

    public var isPostgres: Bool {
        if case .postgres = self { return true }
        return false
    }
}

/// A PostgreSQL database named by a URL `postgres://user@host:port/database?sslmode=…`.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, Equatable, CaseIterable {
        case disable
        case require
        case verifyFull = "verify-full"
    }

    public var user: String
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode

    /// Without `sslmode`: `disable` on loopback, `verify-full` elsewhere (a password never crosses
    /// a network unencrypted or to an unchecked server by default).
    public init(url text: String, key: String = "database") throws {
        func bad(_ why: String) -> ConfigurationError {
            ConfigurationError(key: key, "\(why) (expected postgres://user@host:port/database?sslmode=disable|require|verify-full)")
        }
        guard let components = URLComponents(string: text) else { throw bad("not a URL") }
        if components.password != nil {
            throw ConfigurationError(key: key, """
                the URL holds a password; remove it and put the password in a file named by \
                database_password_file (or pass it as the systemd credential database-password)
                """)
        }
        guard let user = components.user, !user.isEmpty else { throw bad("the URL names no user") }
        guard var host = components.host, !host.isEmpty else { throw bad("the URL names no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw bad("the port \(port) is out of range") }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else { throw bad("the URL names no database") }
        var mode: SSLMode?
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else {
                throw ConfigurationError(key: key, "unknown URL parameter '\(item.name)' (only sslmode is read)")
            }
            guard let value = item.value, let parsed = SSLMode(rawValue: value) else {
                throw ConfigurationError(key: key, "sslmode must be disable, require or verify-full, got '\(item.value ?? "")'")
            }
            mode = parsed
        }
        self.user = user.removingPercentEncoding ?? user
        self.host = host
        self.port = port
        self.database = path.removingPercentEncoding ?? path
        self.sslMode = mode ?? (Self.isLoopback(host) ? .disable : .verifyFull)
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The URL without a password (there never is one), as logs show it.
    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(user)@\(h):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }
}
