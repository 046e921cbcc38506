import TicketCore

/// Where the PostgreSQL store connects and who this node is.
public struct PostgresOptions: Sendable {
    /// `sslmode` of the URL: `disable`, `require` (encrypted, the server's certificate not checked)
    /// or `verify-full` (encrypted, certificate and host name checked against the system's CAs).
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        case disable
        case require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// Connect through this Unix socket instead of TCP (tests; a local server).
    public var unixSocketPath: String?
    public var username: String
    /// Read from `database_password_file` (or a systemd credential): never from the URL.
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// Connections of the pool (reads, and the writer's one); the LISTEN connection comes on top.
    public var poolSize: Int
    /// This node's identity, recorded as the lease's node: at start a node hands back only the
    /// leases its own earlier runs left. Two running nodes must not share one.
    public var nodeID: String
    /// How long a read or a write waits for a connection before it fails with `unavailable`
    /// (PostgreSQL down or restarting: intake answers 503 instead of hanging).
    public var connectTimeoutSeconds: Double
    /// A clock whose time every statement writes instead of the database's `now()`: tests only
    /// (the contract suite drives time by hand). nil in production: time comes from the database.
    public var injectedClock: (any WallClock)?

    public static let defaultPoolSize = 10

    public init(host: String = "127.0.0.1", port: Int = 5432, unixSocketPath: String? = nil, username: String,
                password: String? = nil, database: String, tls: TLSMode = .disable, poolSize: Int = defaultPoolSize,
                nodeID: String, connectTimeoutSeconds: Double = 3, injectedClock: (any WallClock)? = nil) {
        self.host = host
        self.port = port
        self.unixSocketPath = unixSocketPath
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
        self.nodeID = nodeID
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.injectedClock = injectedClock
    }

    /// `postgres://user@host:port/database`, without the password: for logs and errors.
    public var displayURL: String {
        if let unixSocketPath { return "postgres://\(username)@\(unixSocketPath)/\(database)" }
        let h = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(h):\(port)/\(database)"
    }
}
