import PostgresNIO

extension PostgresOptions {
    /// Startup parameters of every connection: durability is not left to the server's
    /// configuration (a 2xx means the commit is on disk), times print in UTC, and `pg_stat_activity`
    /// names the node.
    func startupParameters(role: String = "pool") -> [(String, String)] {
        [("synchronous_commit", "on"), ("TimeZone", "UTC"), ("application_name", applicationName(role: role))]
    }

    /// `ticketd <node> <role>` (pool, or listen for the node's own session), cut to PostgreSQL's 63 bytes.
    func applicationName(role: String) -> String {
        let suffix = " " + role
        return String("ticketd \(nodeID)".utf8.prefix(63 - suffix.utf8.count)).map { $0 + suffix } ?? "ticketd" + suffix
    }

    /// The configuration of the pool.
    func clientConfiguration() -> PostgresClient.Configuration {
        var config: PostgresClient.Configuration
        if let unixSocketPath {
            config = PostgresClient.Configuration(unixSocketPath: unixSocketPath, username: username, password: password,
                                                  database: database)
        } else {
            config = PostgresClient.Configuration(host: host, port: port, username: username, password: password,
                                                  database: database, tls: clientTLS)
        }
        config.options.maximumConnections = max(2, poolSize)
        config.options.minimumConnections = 1
        config.options.connectTimeout = .milliseconds(Int64(connectTimeoutSeconds * 1000))
        config.options.additionalStartupParameters = startupParameters()
        return config
    }

    private var clientTLS: PostgresClient.Configuration.TLS {
        switch tls {
        case .disable: return .disable
        case .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return .require(tls)
        case .verifyFull:
            return .require(TLSConfiguration.makeClientConfiguration())
        }
    }

    /// The configuration of a connection of its own (LISTEN, the node's locks, migrations).
    func connectionConfiguration(role: String) throws -> PostgresConnection.Configuration {
        var config: PostgresConnection.Configuration
        if let unixSocketPath {
            config = PostgresConnection.Configuration(unixSocketPath: unixSocketPath, username: username,
                                                      password: password, database: database)
        } else {
            let connectionTLS: PostgresConnection.Configuration.TLS
            switch tls {
            case .disable: connectionTLS = .disable
            case .require:
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.certificateVerification = .none
                connectionTLS = .require(try NIOSSLContext(configuration: tls))
            case .verifyFull:
                connectionTLS = .require(try NIOSSLContext(configuration: TLSConfiguration.makeClientConfiguration()))
            }
            config = PostgresConnection.Configuration(host: host, port: port, username: username, password: password,
                                                      database: database, tls: connectionTLS)
            if tls == .verifyFull { config.options.tlsServerName = host }
        }
        config.options.additionalStartupParameters = startupParameters(role: role)
        config.options.connectTimeout = .milliseconds(Int64(connectTimeoutSeconds * 1000))
        return config
    }

    /// Opens a connection of its own.
    func connect(role: String, logger: Logger) async throws -> PostgresConnection {
        try await PostgresConnection.connect(configuration: try connectionConfiguration(role: role), id: Int.random(in: 1...Int.max),
                                             logger: logger)
    }
}
