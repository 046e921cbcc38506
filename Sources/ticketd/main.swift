import ArgumentParser
import Foundation
import Logging
import TicketDaemon
import TicketStore
import TicketStorePostgres
import TicketStoreSQLite

/// Options every subcommand takes. Flags win over the configuration file, which wins over the
/// built-in defaults.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (without it, only built-in defaults apply).")
    var config: String?

    @Option(name: .customLong("db"), help: "SQLite database file, or postgres://user@host:port/db?sslmode=… (configuration key: database).")
    var database: String?

    @Option(name: .long, help: "host:port to listen on (configuration key: listen).")
    var listen: String?

    @Option(name: .long, help: "Number of in-process cooks (configuration key: kitchen.cooks).")
    var cooks: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning or error (configuration key: log_level).")
    var logLevel: String?

    var overrides: ConfigurationOverrides {
        ConfigurationOverrides(listen: listen, database: database, cooks: cooks, logLevel: logLevel)
    }

    /// Loads the configuration or exits with status 78 (EX_CONFIG) and a message naming the key.
    func load() throws -> DaemonConfiguration {
        do {
            return try ConfigurationLoader.load(path: config, overrides: overrides)
        } catch let error as ConfigurationError {
            fail("configuration error: \(error)")
        }
    }
}

func fail(_ message: String, code: Int32 = 78) -> Never {
    FileHandle.standardError.write(Data("ticketd: \(message)\n".utf8))
    exit(code)
}

func makeLogger(level: Logger.Level) -> Logger {
    let timestamps = !StderrLogHandler.underJournald
    LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: level, timestamps: timestamps) }
    var logger = Logger(label: "ticketd")
    logger.logLevel = level
    return logger
}

@main
struct Ticketd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ticketd",
        abstract: "Order-ticket queue daemon: orders over HTTP, tickets at once, cooks in the background.",
        version: ticketdVersion,
        subcommands: [Serve.self, Migrate.self, CheckConfig.self, BackupCommand.self],
        defaultSubcommand: Serve.self
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default).")
    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.load()
        let logger = makeLogger(level: config.logLevel)
        let daemon = Daemon(configuration: config, configurationPath: options.config, overrides: options.overrides, logger: logger)
        do {
            try await daemon.run()
        } catch let error as ConfigurationError {
            fail("configuration error: \(error)")
        } catch let error as StoreOpenError {
            fail("\(error)", code: 1)
        } catch {
            fail("\(error)", code: 1)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create or upgrade the database schema, then exit.")
    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.load()
        do {
            switch config.databaseLocation {
            case .sqlite:
                // Refused while a daemon serves the database (it holds the lock).
                let lock = try InstanceLock(database: config.database)
                defer { withExtendedLifetime(lock) {} }
                let applied = try SQLiteOrderStore.migrate(path: config.database)
                print(applied.isEmpty
                      ? "\(config.database): schema is up to date (\(Migrations.latest))"
                      : "\(config.database): applied \(applied.joined(separator: ", "))")
            case .postgres(let location):
                // Nodes may be serving: each migration runs in its own transaction under an advisory
                // lock, and serving nodes of this release read the new schema as theirs.
                let password = try ConfigurationLoader.readDatabasePassword(config)
                let applied = try await PostgresOrderStore.migrate(options: config.postgresOptions(location, password: password))
                print(applied.isEmpty
                      ? "\(location): schema is up to date (\(PostgresMigrations.latest))"
                      : "\(location): applied \(applied.joined(separator: ", "))")
            }
        } catch let error as ConfigurationError {
            fail("configuration error: \(error)")
        } catch {
            fail("\(error)", code: 1)
        }
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the database to a new file while the daemon runs (SQLite), then exit.",
        discussion: """
            The copy is the database as of one commit, taken with VACUUM INTO while the daemon goes on \
            writing; it holds every order acknowledged before the backup began and is checked with \
            integrity_check. To restore: stop the service, put the copy in place of the database \
            (removing its -wal and -shm files), start the service.
            """)
    @OptionGroup var options: CommonOptions

    @Option(name: .customLong("to"), help: "The new file to write (never overwritten).")
    var target: String

    func run() async throws {
        let config = try options.load()
        do {
            let result = try Backup.copy(database: config.database, to: target)
            print("\(config.database): backed up to \(result.path) (\(result.orders) orders, \(result.bytes) bytes, integrity \(result.integrity))")
        } catch {
            fail("\(error)", code: 1)
        }
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate the configuration, then exit.")
    @OptionGroup var options: CommonOptions

    func run() async throws {
        let config = try options.load()
        let token: AdminTokenCheck
        do {
            token = try ConfigurationLoader.checkAdminToken(config)
        } catch let error as ConfigurationError {
            fail("configuration error: \(error)")
        }
        let databaseLine: String
        switch config.databaseLocation {
        case .sqlite:
            databaseLine = "\(config.database) (SQLite, synchronous=\(config.synchronous.rawValue))"
        case .postgres(let location):
            let password: String
            do {
                password = try ConfigurationLoader.checkDatabasePassword(config)
            } catch let error as ConfigurationError {
                fail("configuration error: \(error)")
            }
            databaseLine = "\(location) (PostgreSQL, node_id \(config.nodeIdentity), pool \(config.databasePoolSize), password: \(password))"
        }
        let operatorAPI = switch token {
        case .notConfigured: "off (no admin_token_file)"
        case .readable: "on"
        case .serviceCredential(let path):
            """
            on; admin_token_file \(path) is a systemd credential, readable only inside the service \
            (LoadCredential= in ticketd.service), so it was not read here; everything else was checked
            """
        }
        print("""
            configuration OK\(options.config.map { " (\($0))" } ?? " (built-in defaults)")
              listen: \(config.listen)
              database: \(databaseLine)
              cooks: \(config.kitchen.cooks), handler: \(config.kitchen.handler.rawValue)
              menu: \(config.menu.map(\.item).joined(separator: ", "))
              operator API: \(operatorAPI)
            """)
    }
}
