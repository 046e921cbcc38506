import Foundation
import Testing
import TicketDaemon

/// The YAML configuration: built-in defaults, every key, precedence of flags over the file over
/// the defaults, and errors that name the key.
@Suite("Configuration", .timeLimit(.minutes(1)))
struct ConfigurationTests {
    // MARK: Defaults

    @Test("without a file, every key has its built-in default")
    func builtInDefaults() throws {
        let config = try ConfigurationLoader.load(path: nil)
        #expect(config == DaemonConfiguration())
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.database == "ticketd.db")
        #expect(config.synchronous == .full)
        #expect(config.longPollMaxSeconds == 60)
        #expect(config.adminTokenFile == nil)
        #expect(config.logLevel == .info)
        #expect(config.maxBodyBytes == 64 * 1024)
        #expect(config.idleTimeoutSeconds == 60)
        #expect(config.requestReadTimeoutSeconds == 10)
        #expect(config.maxConnections == 16_000)
        #expect(config.maxWaiters == 12_000)
        #expect(config.retentionDays == 7)
        #expect(config.tickets.maxNumber == 999)
        #expect(config.tickets.pickupTimeoutSeconds == 1800)
        #expect(config.kitchen.cooks == 4)
        #expect(config.kitchen.handler == .simulate)
        #expect(config.kitchen.command == ["/usr/local/lib/ticketd/cook"])
        #expect(config.kitchen.commandTimeoutSeconds == 30)
        #expect(config.kitchen.leaseSeconds == 30)
        #expect(config.kitchen.maxAttempts == 3)
        #expect(config.kitchen.retryBaseSeconds == 1)
        #expect(config.kitchen.retryMaxSeconds == 60)
        #expect(config.kitchen.shutdownGraceSeconds == 5)
        #expect(config.kitchen.maxQueued == 10_000)
        #expect(!config.menu.isEmpty)
        #expect(config.menu == DaemonConfiguration.builtInMenu)
        let names = config.menu.map(\.item)
        #expect(names.contains("cheeseburger"))
        #expect(names.contains("fries"))
        #expect(names.contains("cola"))
        #expect(Set(names).count == names.count, "built-in menu items are unique")
        #expect(config.menu.allSatisfy { $0.cookSeconds >= 0 })
        #expect(try ConfigurationLoader.readAdminToken(config) == nil)
    }

    @Test("an empty file or one holding only comments means the built-in defaults")
    func emptyFile() throws {
        #expect(try ConfigurationLoader.parse(yaml: "") == DaemonConfiguration())
        #expect(try ConfigurationLoader.parse(yaml: "# nothing here\n\n") == DaemonConfiguration())
    }

    @Test("a section whose keys are all commented out keeps the defaults")
    func emptySections() throws {
        let yaml = """
            tickets:
              # max_number: 99
            kitchen:
              # cooks: 2
            menu:
              # - item: soup
            """
        #expect(try ConfigurationLoader.parse(yaml: yaml) == DaemonConfiguration())
    }

    // MARK: Every key

    static let fullFile = """
        listen: "[::1]:9090"
        database: /var/lib/ticketd/orders.db
        synchronous: normal
        long_poll_max_seconds: 25.5
        admin_token_file: /run/credentials/ticketd.service/admin-token
        log_level: debug
        max_body_bytes: 4096
        max_connections: 77
        idle_timeout_seconds: 2.5
        request_read_timeout_seconds: 0.5
        retention_days: 0.5e1
        tickets:
          max_number: 50
          pickup_timeout_seconds: 90.25
        kitchen:
          cooks: 0
          orders_per_cook: 8
          handler: command
          command: [/usr/bin/env, cook, --fast]
          command_timeout_seconds: 2.5
          lease_seconds: 12
          max_attempts: 5
          retry_base_seconds: 0.25
          retry_max_seconds: 8
          shutdown_grace_seconds: 0
          max_queued: 321
        menu:
          - item: soup
            cook_seconds: 120
          - {item: bread, cook_seconds: 0}
        """

    @Test("a full file sets every key")
    func fullFileSetsEveryKey() throws {
        let config = try ConfigurationLoader.parse(yaml: Self.fullFile)
        #expect(config.listen == ListenAddress(host: "::1", port: 9090))
        #expect(config.database == "/var/lib/ticketd/orders.db")
        #expect(config.synchronous == .normal)
        #expect(config.longPollMaxSeconds == 25.5)
        #expect(config.adminTokenFile == "/run/credentials/ticketd.service/admin-token")
        #expect(config.logLevel == .debug)
        #expect(config.maxBodyBytes == 4096)
        #expect(config.maxConnections == 77)
        #expect(config.idleTimeoutSeconds == 2.5)
        #expect(config.requestReadTimeoutSeconds == 0.5)
        #expect(config.retentionDays == 5)
        #expect(config.tickets.maxNumber == 50)
        #expect(config.tickets.pickupTimeoutSeconds == 90.25)
        #expect(config.kitchen.cooks == 0)
        #expect(config.kitchen.ordersPerCook == 8)
        #expect(config.kitchen.handler == .command)
        #expect(config.kitchen.command == ["/usr/bin/env", "cook", "--fast"])
        #expect(config.kitchen.commandTimeoutSeconds == 2.5)
        #expect(config.kitchen.leaseSeconds == 12)
        #expect(config.kitchen.maxAttempts == 5)
        #expect(config.kitchen.retryBaseSeconds == 0.25)
        #expect(config.kitchen.retryMaxSeconds == 8)
        #expect(config.kitchen.shutdownGraceSeconds == 0)
        #expect(config.kitchen.maxQueued == 321)
        #expect(config.menu == [.init(item: "soup", cookSeconds: 120), .init(item: "bread", cookSeconds: 0)])

        // Nothing was left at its default.
        let defaults = DaemonConfiguration()
        #expect(config.tickets != defaults.tickets)
        #expect(config.kitchen != defaults.kitchen)
        var kitchen = config.kitchen
        kitchen.cooks = defaults.kitchen.cooks
        #expect(kitchen != defaults.kitchen)
    }

    @Test("keys not given in the file keep their defaults")
    func partialFile() throws {
        let config = try ConfigurationLoader.parse(yaml: "kitchen:\n  cooks: 9\n")
        var expected = DaemonConfiguration()
        expected.kitchen.cooks = 9
        #expect(config == expected)
    }

    @Test("synchronous and log_level are case-insensitive")
    func caseInsensitiveWords() throws {
        let config = try ConfigurationLoader.parse(yaml: "synchronous: NORMAL\nlog_level: Warning\n")
        #expect(config.synchronous == .normal)
        #expect(config.logLevel == .warning)
    }

    @Test("the repository's sample config/ticketd.yaml parses, with the built-in defaults and the SPEC's menu")
    func repositorySample() throws {
        let path = Self.packageRoot.appendingPathComponent("config/ticketd.yaml").path
        #expect(FileManager.default.fileExists(atPath: path), "missing \(path)")
        let config = try ConfigurationLoader.load(path: path)
        // The sample documents the built-in defaults; only the menu is shorter.
        var expected = DaemonConfiguration()
        expected.menu = [.init(item: "cheeseburger", cookSeconds: 4), .init(item: "fries", cookSeconds: 3),
                         .init(item: "cola", cookSeconds: 0.5)]
        #expect(config == expected)
        // `admin_token_file` is commented out, so the sample works without the credential.
        #expect(try ConfigurationLoader.readAdminToken(config) == nil)
    }

    @Test("the sample names every key the loader accepts")
    func sampleDocumentsEveryKey() throws {
        let path = Self.packageRoot.appendingPathComponent("config/ticketd.yaml").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let keys = ["listen:", "database:", "synchronous:", "long_poll_max_seconds:", "# admin_token_file:",
                    "log_level:", "max_body_bytes:", "max_waiters:", "event_stream_max_seconds:", "max_connections:", "idle_timeout_seconds:",
                    "request_read_timeout_seconds:", "retention_days:", "tickets:", "max_number:",
                    "pickup_timeout_seconds:", "kitchen:", "cooks:", "orders_per_cook:", "handler:", "command:",
                    "command_timeout_seconds:", "lease_seconds:", "max_attempts:", "retry_base_seconds:",
                    "retry_max_seconds:", "shutdown_grace_seconds:", "max_queued:", "menu:", "item:",
                    "cook_seconds:", "/run/credentials/ticketd.service/admin-token",
                    "# database_password_file:", "database_pool_size:", "# node_id:"]
        for key in keys {
            #expect(text.contains(key), "config/ticketd.yaml does not mention \(key)")
        }
    }

    // MARK: Precedence

    @Test("flags win over the file, which wins over the built-in defaults")
    func precedence() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("ticketd.yaml", """
            listen: 0.0.0.0:9000
            database: from-file.db
            log_level: debug
            kitchen:
              cooks: 7
            """)

        let defaults = try ConfigurationLoader.load(path: nil)
        #expect(defaults.listen.description == "127.0.0.1:8080")
        #expect(defaults.database == "ticketd.db")
        #expect(defaults.kitchen.cooks == 4)
        #expect(defaults.logLevel == .info)

        let file = try ConfigurationLoader.load(path: path)
        #expect(file.listen.description == "0.0.0.0:9000")
        #expect(file.database == "from-file.db")
        #expect(file.kitchen.cooks == 7)
        #expect(file.logLevel == .debug)

        let flags = ConfigurationOverrides(listen: "127.0.0.1:9100", database: "from-flag.db", cooks: 1, logLevel: "warning")
        let both = try ConfigurationLoader.load(path: path, overrides: flags)
        #expect(both.listen.description == "127.0.0.1:9100")
        #expect(both.database == "from-flag.db")
        #expect(both.kitchen.cooks == 1)
        #expect(both.logLevel == .warning)

        let flagsOnly = try ConfigurationLoader.load(path: nil, overrides: flags)
        #expect(flagsOnly.listen.description == "127.0.0.1:9100")
        #expect(flagsOnly.database == "from-flag.db")
        #expect(flagsOnly.kitchen.cooks == 1)
        #expect(flagsOnly.logLevel == .warning)

        // One flag overrides only its own key.
        let oneFlag = try ConfigurationLoader.load(path: path, overrides: ConfigurationOverrides(cooks: 0))
        #expect(oneFlag.kitchen.cooks == 0)
        #expect(oneFlag.database == "from-file.db")
        #expect(oneFlag.listen.description == "0.0.0.0:9000")
        #expect(oneFlag.logLevel == .debug)
    }

    @Test("bad flag values are errors naming the key", arguments: [
        Case("--listen nonsense", key: "listen", overrides: .init(listen: "nonsense")),
        Case("--db ''", key: "database", overrides: .init(database: "")),
        Case("--cooks -1", key: "kitchen.cooks", overrides: .init(cooks: -1)),
        Case("--cooks 5000", key: "kitchen.cooks", overrides: .init(cooks: 5000)),
        Case("--log-level loud", key: "log_level", overrides: .init(logLevel: "loud")),
    ])
    func badFlags(_ bad: Case) throws {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(path: nil, overrides: bad.overrides)
        }
        #expect(error?.key == bad.key)
        #expect(error?.description.contains(bad.key) == true, "\(String(describing: error))")
    }

    @Test("a file that does not exist is an error naming the file")
    func missingFile() throws {
        let path = "/nonexistent-\(UUID().uuidString)/ticketd.yaml"
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(path: path) }
        #expect(error?.description.contains(path) == true)
    }

    // MARK: Bad keys and values

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let yaml: String
        let key: String
        let overrides: ConfigurationOverrides
        init(_ name: String, yaml: String = "", key: String, overrides: ConfigurationOverrides = .init()) {
            self.name = name
            self.yaml = yaml
            self.key = key
            self.overrides = overrides
        }
        var testDescription: String { name }
    }

    static let badFiles: [Case] = [
        Case("unknown top-level key", yaml: "colour: blue\n", key: "colour"),
        Case("unknown kitchen key", yaml: "kitchen:\n  cookz: 3\n", key: "kitchen.cookz"),
        Case("unknown tickets key", yaml: "tickets:\n  max: 3\n", key: "tickets.max"),
        Case("unknown menu entry key", yaml: "menu:\n  - item: soup\n    cook_seconds: 1\n    price: 3\n",
             key: "menu[0].price"),
        Case("cooks -1", yaml: "kitchen:\n  cooks: -1\n", key: "kitchen.cooks"),
        Case("cooks four", yaml: "kitchen:\n  cooks: four\n", key: "kitchen.cooks"),
        Case("cooks 2.5", yaml: "kitchen:\n  cooks: 2.5\n", key: "kitchen.cooks"),
        Case("cooks as a list", yaml: "kitchen:\n  cooks: [1, 2]\n", key: "kitchen.cooks"),
        Case("listen nonsense", yaml: "listen: nonsense\n", key: "listen"),
        Case("listen port out of range", yaml: "listen: 127.0.0.1:70000\n", key: "listen"),
        Case("database empty", yaml: "database: ''\n", key: "database"),
        Case("synchronous off", yaml: "synchronous: off\n", key: "synchronous"),
        Case("handler fry", yaml: "kitchen:\n  handler: fry\n", key: "kitchen.handler"),
        Case("command empty list", yaml: "kitchen:\n  command: []\n", key: "kitchen.command"),
        Case("command as a string", yaml: "kitchen:\n  command: /bin/cook\n", key: "kitchen.command"),
        Case("command with empty program", yaml: "kitchen:\n  command: ['', x]\n", key: "kitchen.command[0]"),
        Case("log_level loud", yaml: "log_level: loud\n", key: "log_level"),
        Case("log_level critical", yaml: "log_level: critical\n", key: "log_level"),
        Case("lease_seconds 0", yaml: "kitchen:\n  lease_seconds: 0\n", key: "kitchen.lease_seconds"),
        Case("max_attempts 0", yaml: "kitchen:\n  max_attempts: 0\n", key: "kitchen.max_attempts"),
        Case("max_queued 0", yaml: "kitchen:\n  max_queued: 0\n", key: "kitchen.max_queued"),
        Case("orders_per_cook 0", yaml: "kitchen:\n  orders_per_cook: 0\n", key: "kitchen.orders_per_cook"),
        Case("orders_per_cook 257", yaml: "kitchen:\n  orders_per_cook: 257\n", key: "kitchen.orders_per_cook"),
        Case("command_timeout_seconds 0", yaml: "kitchen:\n  command_timeout_seconds: 0\n",
             key: "kitchen.command_timeout_seconds"),
        Case("shutdown_grace_seconds negative", yaml: "kitchen:\n  shutdown_grace_seconds: -1\n",
             key: "kitchen.shutdown_grace_seconds"),
        Case("retry_base_seconds text", yaml: "kitchen:\n  retry_base_seconds: soon\n", key: "kitchen.retry_base_seconds"),
        Case("retry_max below retry_base", yaml: "kitchen:\n  retry_base_seconds: 10\n  retry_max_seconds: 5\n",
             key: "kitchen.retry_max_seconds"),
        Case("max_number 0", yaml: "tickets:\n  max_number: 0\n", key: "tickets.max_number"),
        Case("pickup_timeout_seconds negative", yaml: "tickets:\n  pickup_timeout_seconds: -5\n",
             key: "tickets.pickup_timeout_seconds"),
        Case("tickets not a mapping", yaml: "tickets: 5\n", key: "tickets"),
        Case("kitchen not a mapping", yaml: "kitchen: [1]\n", key: "kitchen"),
        Case("long_poll_max_seconds infinite", yaml: "long_poll_max_seconds: .inf\n", key: "long_poll_max_seconds"),
        Case("long_poll_max_seconds nan", yaml: "long_poll_max_seconds: nan\n", key: "long_poll_max_seconds"),
        Case("max_body_bytes too small", yaml: "max_body_bytes: 10\n", key: "max_body_bytes"),
        Case("max_connections 0", yaml: "max_connections: 0\n", key: "max_connections"),
        Case("idle_timeout_seconds 0", yaml: "idle_timeout_seconds: 0\n", key: "idle_timeout_seconds"),
        Case("request_read_timeout_seconds text", yaml: "request_read_timeout_seconds: soon\n",
             key: "request_read_timeout_seconds"),
        Case("retention_days 0", yaml: "retention_days: 0\n", key: "retention_days"),
        Case("admin_token_file empty", yaml: "admin_token_file: ''\n", key: "admin_token_file"),
        Case("menu duplicate item", yaml: "menu:\n  - {item: soup, cook_seconds: 1}\n  - {item: soup, cook_seconds: 2}\n",
             key: "menu[1].item"),
        Case("menu missing cook_seconds", yaml: "menu:\n  - {item: soup, cook_seconds: 1}\n  - item: bread\n",
             key: "menu[1].cook_seconds"),
        Case("menu missing item", yaml: "menu:\n  - cook_seconds: 1\n", key: "menu[0].item"),
        Case("menu item with a space", yaml: "menu:\n  - {item: hot dog, cook_seconds: 1}\n", key: "menu[0].item"),
        Case("menu cook_seconds negative", yaml: "menu:\n  - {item: soup, cook_seconds: -1}\n", key: "menu[0].cook_seconds"),
        Case("menu entry not a mapping", yaml: "menu:\n  - soup\n", key: "menu[0]"),
        Case("menu not a list", yaml: "menu: soup\n", key: "menu"),
        Case("menu empty list", yaml: "menu: []\n", key: "menu"),
    ]

    @Test("unknown keys and bad values are errors naming the full key", arguments: badFiles)
    func badFile(_ bad: Case) throws {
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.parse(yaml: bad.yaml) }
        #expect(error?.key == bad.key, "\(String(describing: error))")
        #expect(error?.description.contains(bad.key) == true, "\(String(describing: error))")
    }

    @Test("the same errors come from load(path:), the path the daemon and check-config take", arguments: badFiles.filter {
        ["unknown kitchen key", "cooks -1", "retry_max below retry_base", "menu duplicate item"].contains($0.name)
    })
    func badFileThroughLoad(_ bad: Case) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("bad.yaml", bad.yaml)
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(path: path) }
        #expect(error?.key == bad.key, "\(String(describing: error))")
        #expect(error?.description.contains(bad.key) == true, "\(String(describing: error))")
    }

    @Test("text that is not YAML is an error naming the source")
    func notYAML() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.parse(yaml: "listen: [127.0.0.1:8080\nkitchen: {cooks: 4\n", source: "broken.yaml")
        }
        #expect(error?.description.contains("broken.yaml") == true, "\(String(describing: error))")
        #expect(error?.description.contains("YAML") == true, "\(String(describing: error))")
    }

    @Test("a YAML list or scalar at the top level is an error")
    func notAMapping() throws {
        for yaml in ["- listen: 127.0.0.1:8080\n- database: x.db\n", "just some words\n"] {
            let error = #expect(throws: ConfigurationError.self) {
                try ConfigurationLoader.parse(yaml: yaml, source: "list.yaml")
            }
            #expect(error?.description.contains("list.yaml") == true, "\(String(describing: error))")
            #expect(error?.description.contains("mapping") == true, "\(String(describing: error))")
        }
    }

    // MARK: Admin token

    @Test("admin_token_file pointing at a missing file is an error naming admin_token_file")
    func adminTokenMissing() throws {
        let dir = try TemporaryDirectory()
        let path = dir.url.appendingPathComponent("no-such-token").path
        let config = try ConfigurationLoader.parse(yaml: "admin_token_file: \(path)\n")
        #expect(config.adminTokenFile == path)
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.readAdminToken(config) }
        #expect(error?.key == "admin_token_file")
        #expect(error?.description.contains("admin_token_file") == true)
        #expect(error?.description.contains(path) == true)
    }

    @Test("an empty or whitespace-only admin token file is an error naming admin_token_file",
          arguments: ["", "   ", "\n", " \t\r\n  \n"])
    func adminTokenEmpty(_ contents: String) throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("token", contents)
        let config = try ConfigurationLoader.parse(yaml: "admin_token_file: \(path)\n")
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.readAdminToken(config) }
        #expect(error?.key == "admin_token_file")
        #expect(error?.description.contains("admin_token_file") == true)
    }

    @Test("the admin token is read with surrounding whitespace trimmed")
    func adminTokenTrimmed() throws {
        let dir = try TemporaryDirectory()
        let path = try dir.write("token", "  \n\ts3cr3t-token with inner space\t \n\n")
        let config = try ConfigurationLoader.parse(yaml: "admin_token_file: \(path)\n")
        #expect(try ConfigurationLoader.readAdminToken(config) == "s3cr3t-token with inner space")
    }

    @Test("admin_token_file: null means no operator API")
    func adminTokenNull() throws {
        let config = try ConfigurationLoader.parse(yaml: "admin_token_file: ~\n")
        #expect(config.adminTokenFile == nil)
        #expect(try ConfigurationLoader.readAdminToken(config) == nil)
    }

    // MARK: Helpers

    /// The package root, found from this file's path (Tests/TicketDaemonTests/…).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// A fresh directory under the system's temporary directory, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ticketd-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `contents` to `name` in the directory and returns its path.
    func write(_ name: String, _ contents: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(contents.utf8).write(to: file)
        return file.path
    }
}

/// `check-config` and the admin token: a systemd credential is only readable inside its service.
@Suite("Admin token check")
struct AdminTokenCheckTests {
    @Test("paths under /run/credentials/<unit>/ are service credentials, unless this process is that service",
          arguments: [
            ("/run/credentials/ticketd.service/admin-token", [String: String](), true),
            ("/run/credentials/other.service/token", [:], true),
            ("/run/user/1000/credentials/ticketd.service/admin-token", [:], true),
            ("/run/credentials/../etc/admin-token", [:], false),
            ("/run/credentials", [:], false),
            ("/etc/ticketd/admin-token", [:], false),
            ("admin-token", [:], false),
            ("/run/credentials/ticketd.service/admin-token", ["CREDENTIALS_DIRECTORY": "/run/credentials/ticketd.service"], false),
            ("/run/credentials/ticketd.service/admin-token", ["CREDENTIALS_DIRECTORY": "/run/credentials/other.service"], true),
            ("/run/credentials/ticketd.service/admin-token", ["CREDENTIALS_DIRECTORY": ""], true),
          ])
    func serviceCredential(_ path: String, _ environment: [String: String], _ expected: Bool) {
        #expect(ConfigurationLoader.isServiceCredential(path, environment: environment) == expected)
    }

    @Test("check-config reports an unreadable credential, reads a readable token, and refuses the rest")
    func check() throws {
        var config = DaemonConfiguration()
        #expect(try ConfigurationLoader.checkAdminToken(config, environment: [:]) == .notConfigured)

        let credential = "/run/credentials/ticketd-test-\(UUID().uuidString).service/admin-token"
        config.adminTokenFile = credential
        #expect(try ConfigurationLoader.checkAdminToken(config, environment: [:]) == .serviceCredential(path: credential))
        // serve reads it for real, and cannot.
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.readAdminToken(config) }
        // Inside the service the credential must be there.
        let inside = ["CREDENTIALS_DIRECTORY": (credential as NSString).deletingLastPathComponent]
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.checkAdminToken(config, environment: inside) }

        let dir = try TemporaryDirectory()
        config.adminTokenFile = try dir.write("token", "  secret \n")
        #expect(try ConfigurationLoader.checkAdminToken(config, environment: [:]) == .readable)
        config.adminTokenFile = try dir.write("empty", " \n")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.checkAdminToken(config, environment: [:]) }
        config.adminTokenFile = dir.url.appendingPathComponent("missing").path
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.checkAdminToken(config, environment: [:]) }
    }
}
