import Foundation
import Logging
import TicketCore
import TicketHTTP
import TicketStore
import TicketStoreSQLite

/// Everything ticketd reads from its YAML file, with a built-in default for every key.
public struct DaemonConfiguration: Sendable, Equatable {
    public struct MenuItem: Sendable, Equatable, Hashable {
        public var item: String
        public var cookSeconds: Double
        public init(item: String, cookSeconds: Double) {
            self.item = item
            self.cookSeconds = cookSeconds
        }
    }

    public enum Handler: String, Sendable, Equatable, CaseIterable {
        case simulate, command
    }

    public struct Tickets: Sendable, Equatable {
        public var maxNumber = 999
        public var pickupTimeoutSeconds = 1800.0
    }

    public struct Kitchen: Sendable, Equatable {
        public var cooks = 4
        /// Orders one cook claims in one go and cooks side by side (a grill takes several).
        public var ordersPerCook = 1
        public var handler = Handler.simulate
        public var command = ["/usr/local/lib/ticketd/cook"]
        public var commandTimeoutSeconds = 30.0
        public var leaseSeconds = 30.0
        public var maxAttempts = 3
        public var retryBaseSeconds = 1.0
        public var retryMaxSeconds = 60.0
        public var shutdownGraceSeconds = 5.0
        public var maxQueued = 10_000
    }

    public var listen = ListenAddress(host: "127.0.0.1", port: 8080)
    public var database = "ticketd.db"
    /// PostgreSQL only: the file holding the database password (never the URL). Under systemd the
    /// credential `database-password` (`LoadCredential=`) is used when this is not set.
    public var databasePasswordFile: String?
    /// PostgreSQL only: connections of this node's pool (reads and its one writer; the LISTEN
    /// session comes on top).
    public var databasePoolSize = 10
    /// PostgreSQL only: this node's identity, recorded as the lease's node; nil: host name and
    /// listen port (`nodeIdentity`). Two running nodes must not share one.
    public var nodeID: String?
    /// `full` (default) or `normal`: SQLite's synchronous mode for the database.
    public var synchronous = DatabaseOptions.Synchronous.full
    public var longPollMaxSeconds = 60.0
    public var adminTokenFile: String?
    public var logLevel = Logger.Level.info
    /// Largest request body accepted, in bytes (413 above it).
    public var maxBodyBytes = 64 * 1024
    /// Long polls and SSE streams open at once (503 above it). Each holds a connection, so it is
    /// kept below `maxConnections`, leaving connections for everything else when it is reached.
    public var maxWaiters = 12_000
    /// The board's and the kitchen's event streams end after this many seconds (0: never);
    /// browsers reconnect by themselves.
    public var eventStreamMaxSeconds = 0.0
    /// Seconds a connection may stay open with no request in progress before it is closed (a
    /// request whose answer the server is still producing, such as a long poll or an SSE
    /// stream, is never cut by it).
    public var idleTimeoutSeconds = 60.0
    /// Seconds a client has to send one whole request (head and body) once its first byte has
    /// arrived; slower clients (slow-loris) get 408 or a close.
    public var requestReadTimeoutSeconds = 10.0
    /// Connections open at once; more are answered 503 problem+json and closed. The default fits
    /// a hard open-file limit of 20,000 (`OpenFileBudget`); the systemd unit sets 65,536.
    public var maxConnections = 16_000
    public var tickets = Tickets()
    public var kitchen = Kitchen()
    public var retentionDays = 7.0
    public var menu: [MenuItem] = DaemonConfiguration.builtInMenu

    public init() {}

    /// The menu when the file names none: burgers, fries and drinks.
    public static let builtInMenu: [MenuItem] = [
        MenuItem(item: "cheeseburger", cookSeconds: 4),
        MenuItem(item: "hamburger", cookSeconds: 3.5),
        MenuItem(item: "veggie-burger", cookSeconds: 4),
        MenuItem(item: "fries", cookSeconds: 3),
        MenuItem(item: "onion-rings", cookSeconds: 3),
        MenuItem(item: "cola", cookSeconds: 0.5),
        MenuItem(item: "lemonade", cookSeconds: 0.5),
        MenuItem(item: "milkshake", cookSeconds: 1.5),
    ]

    /// The store settings these values imply.
    public var storeSettings: StoreSettings {
        StoreSettings(maxNumber: tickets.maxNumber, maxQueued: kitchen.maxQueued,
                      retry: RetryPolicy(maxAttempts: kitchen.maxAttempts, baseSeconds: kitchen.retryBaseSeconds,
                                         maxSeconds: kitchen.retryMaxSeconds))
    }

    /// The connection limits these values imply.
    public var connectionLimits: ConnectionLimits {
        ConnectionLimits(idleTimeoutSeconds: idleTimeoutSeconds, requestReadTimeoutSeconds: requestReadTimeoutSeconds,
                         maxConnections: maxConnections)
    }

    public var databaseOptions: DatabaseOptions {
        DatabaseOptions(path: database, synchronous: synchronous)
    }

    /// What `database` names (validated when the configuration loads).
    public var databaseLocation: DatabaseLocation {
        (try? DatabaseLocation.parse(database)) ?? .sqlite(path: database)
    }

    /// `node_id`, or this host's name and the listen port: stable across restarts of one node,
    /// distinct for two nodes on one host.
    public var nodeIdentity: String {
        if let nodeID { return nodeID }
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
        return "\(host):\(listen.port)"
    }
}

/// A host and port to listen on (`127.0.0.1:8080`, `[::1]:8080`, `localhost:0`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(parsing text: String) {
        var host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return nil }
        if host == "localhost" { host = "127.0.0.1" }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
