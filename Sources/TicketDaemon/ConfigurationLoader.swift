import Foundation
import Logging
import TicketStore
import TicketStoreSQLite
import Yams

/// A configuration value or key that cannot be used; the message names the key.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var message: String
    public init(key: String, _ message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { key.isEmpty ? message : "\(key): \(message)" }
}

/// Values given on the command line; each one, when set, wins over the file.
public struct ConfigurationOverrides: Sendable, Equatable {
    public var listen: String?
    public var database: String?
    public var cooks: Int?
    public var logLevel: String?
    public init(listen: String? = nil, database: String? = nil, cooks: Int? = nil, logLevel: String? = nil) {
        self.listen = listen
        self.database = database
        self.cooks = cooks
        self.logLevel = logLevel
    }
}

/// Reads the YAML file over the built-in defaults, then applies the flags. Unknown keys and bad
/// values are errors naming the key.
public enum ConfigurationLoader {
    /// Loads `path` (nil: built-in defaults only) and applies `overrides`.
    public static func load(path: String?, overrides: ConfigurationOverrides = ConfigurationOverrides()) throws -> DaemonConfiguration {
        var config = DaemonConfiguration()
        if let path {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigurationError(key: "", "cannot read configuration file \(path): \(error.localizedDescription)")
            }
            config = try parse(yaml: text, source: path)
        }
        try apply(overrides, to: &config)
        try validate(config)
        return config
    }

    /// Parses YAML text over the built-in defaults.
    public static func parse(yaml: String, source: String = "configuration") throws -> DaemonConfiguration {
        var config = DaemonConfiguration()
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError(key: "", "\(source) is not valid YAML: \(error)")
        }
        guard let root else { return config }  // an empty file: defaults
        guard let mapping = root.mapping else {
            throw ConfigurationError(key: "", "\(source) must be a mapping of keys to values")
        }
        var reader = Reader()
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            switch key {
            case "listen":
                let text = try reader.string(value, key)
                guard let address = ListenAddress(parsing: text) else {
                    throw ConfigurationError(key: key, "expected host:port (like 127.0.0.1:8080), got '\(text)'")
                }
                config.listen = address
            case "database": config.database = try reader.nonEmptyString(value, key)
            case "database_password_file":
                config.databasePasswordFile = value.null != nil ? nil : try reader.nonEmptyString(value, key)
            case "database_pool_size": config.databasePoolSize = try reader.int(value, key, min: 2, max: 500)
            case "node_id":
                let text = try reader.nonEmptyString(value, key)
                guard text.count <= 200, text.allSatisfy({ !$0.isWhitespace && !$0.isNewline }) else {
                    throw ConfigurationError(key: key, "expected a name of 1 to 200 characters without spaces, got '\(text)'")
                }
                config.nodeID = text
            case "synchronous":
                let text = try reader.string(value, key)
                guard let mode = DatabaseOptions.Synchronous(rawValue: text.uppercased()) else {
                    throw ConfigurationError(key: key, "expected full or normal, got '\(text)'")
                }
                config.synchronous = mode
            case "long_poll_max_seconds": config.longPollMaxSeconds = try reader.seconds(value, key, min: 0, max: 3600)
            case "admin_token_file":
                config.adminTokenFile = value.null != nil ? nil : try reader.nonEmptyString(value, key)
            case "log_level": config.logLevel = try reader.logLevel(value, key)
            case "max_body_bytes": config.maxBodyBytes = try reader.int(value, key, min: 256, max: 64 * 1024 * 1024)
            case "max_waiters": config.maxWaiters = try reader.int(value, key, min: 1, max: 1_000_000)
            case "event_stream_max_seconds":
                config.eventStreamMaxSeconds = try reader.seconds(value, key, min: 0, max: 86400)
            case "idle_timeout_seconds": config.idleTimeoutSeconds = try reader.seconds(value, key, min: 0.1, max: 86400)
            case "request_read_timeout_seconds":
                config.requestReadTimeoutSeconds = try reader.seconds(value, key, min: 0.1, max: 3600)
            case "max_connections": config.maxConnections = try reader.int(value, key, min: 1, max: 1_000_000)
            case "retention_days": config.retentionDays = try reader.seconds(value, key, min: 1, max: 36500)
            case "tickets": try parseTickets(value, into: &config.tickets, reader: &reader)
            case "kitchen": try parseKitchen(value, into: &config.kitchen, reader: &reader)
            case "menu":
                // `menu:` with every entry commented out keeps the built-in menu.
                if value.null == nil { config.menu = try parseMenu(value, reader: &reader) }
            default: throw ConfigurationError(key: key, "unknown key")
            }
        }
        try validate(config)
        return config
    }

    static func parseTickets(_ node: Node, into tickets: inout DaemonConfiguration.Tickets, reader: inout Reader) throws {
        if node.null != nil { return }  // `tickets:` with every key commented out: the defaults
        for (keyNode, value) in try reader.mapping(node, "tickets") {
            let key = "tickets." + (keyNode.string ?? "?")
            switch key {
            case "tickets.max_number": tickets.maxNumber = try reader.int(value, key, min: 1, max: 1_000_000_000)
            case "tickets.pickup_timeout_seconds": tickets.pickupTimeoutSeconds = try reader.seconds(value, key, min: 0)
            default: throw ConfigurationError(key: key, "unknown key")
            }
        }
    }

    static func parseKitchen(_ node: Node, into kitchen: inout DaemonConfiguration.Kitchen, reader: inout Reader) throws {
        if node.null != nil { return }  // `kitchen:` with every key commented out: the defaults
        for (keyNode, value) in try reader.mapping(node, "kitchen") {
            let key = "kitchen." + (keyNode.string ?? "?")
            switch key {
            case "kitchen.cooks": kitchen.cooks = try reader.int(value, key, min: 0, max: 1024)
            case "kitchen.orders_per_cook": kitchen.ordersPerCook = try reader.int(value, key, min: 1, max: 256)
            case "kitchen.handler":
                let text = try reader.string(value, key)
                guard let handler = DaemonConfiguration.Handler(rawValue: text) else {
                    throw ConfigurationError(key: key, "expected simulate or command, got '\(text)'")
                }
                kitchen.handler = handler
            case "kitchen.command":
                guard let seq = value.sequence, !seq.isEmpty else {
                    throw ConfigurationError(key: key, "expected a non-empty list: the program and its arguments")
                }
                kitchen.command = try seq.enumerated().map { i, v in try reader.string(v, "\(key)[\(i)]") }
                if kitchen.command[0].isEmpty { throw ConfigurationError(key: "\(key)[0]", "the program must not be empty") }
            case "kitchen.command_timeout_seconds": kitchen.commandTimeoutSeconds = try reader.seconds(value, key, min: 0.001)
            case "kitchen.lease_seconds": kitchen.leaseSeconds = try reader.seconds(value, key, min: 1, max: 3600)
            case "kitchen.max_attempts": kitchen.maxAttempts = try reader.int(value, key, min: 1, max: 1000)
            case "kitchen.retry_base_seconds": kitchen.retryBaseSeconds = try reader.seconds(value, key, min: 0)
            case "kitchen.retry_max_seconds": kitchen.retryMaxSeconds = try reader.seconds(value, key, min: 0)
            case "kitchen.shutdown_grace_seconds": kitchen.shutdownGraceSeconds = try reader.seconds(value, key, min: 0, max: 3600)
            case "kitchen.max_queued": kitchen.maxQueued = try reader.int(value, key, min: 1, max: 1_000_000_000)
            default: throw ConfigurationError(key: key, "unknown key")
            }
        }
    }

    static func parseMenu(_ node: Node, reader: inout Reader) throws -> [DaemonConfiguration.MenuItem] {
        guard let seq = node.sequence else {
            throw ConfigurationError(key: "menu", "expected a list of {item, cook_seconds}")
        }
        var items: [DaemonConfiguration.MenuItem] = []
        var seen = Set<String>()
        for (i, entry) in seq.enumerated() {
            let prefix = "menu[\(i)]"
            var name: String?
            var seconds: Double?
            for (keyNode, value) in try reader.mapping(entry, prefix) {
                let key = prefix + "." + (keyNode.string ?? "?")
                switch keyNode.string {
                case "item":
                    let text = try reader.nonEmptyString(value, key)
                    guard text.count <= 64, text.allSatisfy({ !$0.isWhitespace && !$0.isNewline }) else {
                        throw ConfigurationError(key: key, "expected a name of 1 to 64 characters without spaces, got '\(text)'")
                    }
                    name = text
                case "cook_seconds": seconds = try reader.seconds(value, key, min: 0, max: 86400)
                default: throw ConfigurationError(key: key, "unknown key")
                }
            }
            guard let name else { throw ConfigurationError(key: prefix + ".item", "missing") }
            guard let seconds else { throw ConfigurationError(key: prefix + ".cook_seconds", "missing") }
            guard seen.insert(name).inserted else {
                throw ConfigurationError(key: prefix + ".item", "'\(name)' appears twice in the menu")
            }
            items.append(DaemonConfiguration.MenuItem(item: name, cookSeconds: seconds))
        }
        guard !items.isEmpty else { throw ConfigurationError(key: "menu", "must list at least one item") }
        return items
    }

    static func apply(_ overrides: ConfigurationOverrides, to config: inout DaemonConfiguration) throws {
        if let listen = overrides.listen {
            guard let address = ListenAddress(parsing: listen) else {
                throw ConfigurationError(key: "listen", "--listen expects host:port (like 127.0.0.1:8080), got '\(listen)'")
            }
            config.listen = address
        }
        if let db = overrides.database {
            guard !db.isEmpty else { throw ConfigurationError(key: "database", "--db must not be empty") }
            config.database = db
        }
        if let cooks = overrides.cooks {
            guard (0...1024).contains(cooks) else {
                throw ConfigurationError(key: "kitchen.cooks", "--cooks expects 0 to 1024, got \(cooks)")
            }
            config.kitchen.cooks = cooks
        }
        if let level = overrides.logLevel {
            guard let parsed = Reader.level(level) else {
                throw ConfigurationError(key: "log_level", "--log-level expects one of \(Reader.levels), got '\(level)'")
            }
            config.logLevel = parsed
        }
    }

    static func validate(_ config: DaemonConfiguration) throws {
        _ = try DatabaseLocation.parse(config.database)
        if config.kitchen.retryMaxSeconds < config.kitchen.retryBaseSeconds {
            throw ConfigurationError(key: "kitchen.retry_max_seconds",
                                     "must be at least kitchen.retry_base_seconds (\(config.kitchen.retryBaseSeconds))")
        }
    }

    /// Reads the admin token named by `admin_token_file`: nil when none is configured; an error
    /// naming the key when the file cannot be read or holds only whitespace.
    public static func readAdminToken(_ config: DaemonConfiguration) throws -> String? {
        guard let path = config.adminTokenFile else { return nil }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: "admin_token_file", "cannot read \(path): \(error.localizedDescription)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ConfigurationError(key: "admin_token_file", "\(path) is empty") }
        return token
    }
}

extension ConfigurationLoader {
    /// The systemd credential that supplies the database password when `database_password_file`
    /// is not set (`LoadCredential=database-password:…`).
    public static let passwordCredential = "database-password"

    /// The PostgreSQL password: read from `database_password_file` (surrounding whitespace
    /// trimmed), else from the service's credential `database-password` when systemd passes one,
    /// else none (trust or peer authentication). Errors name the key.
    public static func readDatabasePassword(_ config: DaemonConfiguration,
                                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        let path: String
        if let file = config.databasePasswordFile {
            path = file
        } else if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty,
                  FileManager.default.fileExists(atPath: directory + "/" + passwordCredential) {
            path = directory + "/" + passwordCredential
        } else {
            return nil
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: "database_password_file", "cannot read \(path): \(error.localizedDescription)")
        }
        let password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !password.isEmpty else { throw ConfigurationError(key: "database_password_file", "\(path) is empty") }
        return password
    }
}

extension ConfigurationLoader {
    /// What `check-config` says of the database password: read from its file, a systemd
    /// credential readable only inside the service, or none. A file that cannot be read (outside
    /// `/run/credentials/`) or is empty is an error naming the key.
    public static func checkDatabasePassword(_ config: DaemonConfiguration,
                                             environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let path = config.databasePasswordFile, !FileManager.default.isReadableFile(atPath: path),
           isServiceCredential(path, environment: environment) {
            return "\(path), a systemd credential readable only inside the service (not read here)"
        }
        guard try readDatabasePassword(config, environment: environment) != nil else {
            return "none (trust or peer authentication)"
        }
        return "read from \(config.databasePasswordFile ?? "the credential \(passwordCredential)")"
    }
}

/// What `ticketd check-config` can tell of the admin token from where it runs.
public enum AdminTokenCheck: Sendable, Equatable {
    /// No `admin_token_file`: the operator and kitchen APIs are off.
    case notConfigured
    /// The file was read and holds a token.
    case readable
    /// The file is a systemd credential of a service (under `/run/credentials/`), which exists
    /// only while that service runs and only for it: it cannot be read from here, and that is
    /// no error outside the service. `serve` still refuses to start without it.
    case serviceCredential(path: String)
}

extension ConfigurationLoader {
    /// Checks the admin token as `check-config` does: like `readAdminToken`, except that a
    /// systemd credential that cannot be read from outside its service is reported, not thrown.
    /// Inside a service (`$CREDENTIALS_DIRECTORY` set and holding the path) a missing credential
    /// is an error, as it is for `serve`.
    public static func checkAdminToken(_ config: DaemonConfiguration,
                                       environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> AdminTokenCheck {
        guard let path = config.adminTokenFile else { return .notConfigured }
        do {
            _ = try readAdminToken(config)
            return .readable
        } catch let error as ConfigurationError {
            // A file that can be read but is empty is wrong wherever it is read.
            guard !FileManager.default.isReadableFile(atPath: path), isServiceCredential(path, environment: environment) else {
                throw error
            }
            return .serviceCredential(path: path)
        }
    }

    /// Whether `path` is a systemd credential of a service this process is not: under
    /// `/run/credentials/<unit>/` (or a user manager's `/run/user/<uid>/credentials/<unit>/`),
    /// and not under this process's own `$CREDENTIALS_DIRECTORY`.
    public static func isServiceCredential(_ path: String, environment: [String: String]) -> Bool {
        let normalized = (path as NSString).standardizingPath
        if let own = environment["CREDENTIALS_DIRECTORY"], !own.isEmpty {
            let directory = (own as NSString).standardizingPath
            if normalized.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/") { return false }
        }
        let parts = normalized.split(separator: "/", omittingEmptySubsequences: true)
        if parts.count >= 4, parts[0] == "run", parts[1] == "credentials" { return true }
        if parts.count >= 6, parts[0] == "run", parts[1] == "user", parts[3] == "credentials" { return true }
        return false
    }
}

/// Typed reads of YAML nodes with errors that name the key.
struct Reader {
    static let levels = "trace, debug, info, notice, warning, error"

    static func level(_ text: String) -> Logger.Level? {
        let l = Logger.Level(rawValue: text.lowercased())
        return l == .critical ? nil : l
    }

    func mapping(_ node: Node, _ key: String) throws -> Node.Mapping {
        guard let m = node.mapping else { throw ConfigurationError(key: key, "expected a mapping of keys to values") }
        return m
    }

    func string(_ node: Node, _ key: String) throws -> String {
        guard let s = node.scalar?.string else { throw ConfigurationError(key: key, "expected a text value") }
        return s
    }

    func nonEmptyString(_ node: Node, _ key: String) throws -> String {
        let s = try string(node, key)
        guard !s.isEmpty else { throw ConfigurationError(key: key, "must not be empty") }
        return s
    }

    func int(_ node: Node, _ key: String, min: Int, max: Int = Int.max) throws -> Int {
        let raw = node.scalar?.string ?? "?"
        guard node.scalar != nil, let v = Int(raw) else {
            throw ConfigurationError(key: key, "expected a whole number, got '\(raw)'")
        }
        guard v >= min, v <= max else {
            throw ConfigurationError(key: key, "expected \(min) to \(max == Int.max ? "any" : String(max)), got \(v)")
        }
        return v
    }

    func seconds(_ node: Node, _ key: String, min: Double, max: Double = .infinity) throws -> Double {
        let raw = node.scalar?.string ?? "?"
        guard node.scalar != nil, let v = Double(raw), v.isFinite else {
            throw ConfigurationError(key: key, "expected a number, got '\(raw)'")
        }
        guard v >= min, v <= max else {
            throw ConfigurationError(key: key, "expected \(Self.format(min)) to \(max.isInfinite ? "any" : Self.format(max)), got \(Self.format(v))")
        }
        return v
    }

    func logLevel(_ node: Node, _ key: String) throws -> Logger.Level {
        let text = try string(node, key)
        guard let level = Self.level(text) else {
            throw ConfigurationError(key: key, "expected one of \(Self.levels), got '\(text)'")
        }
        return level
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
