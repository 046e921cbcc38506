import Foundation
import Testing
import TicketDaemon

/// `database:` names a SQLite file or a PostgreSQL URL; the password never sits in the YAML.
@Suite("Database location and PostgreSQL keys", .timeLimit(.minutes(1)))
struct DatabaseLocationTests {
    @Test("a path is SQLite; a postgres:// URL is PostgreSQL with its parts and sslmode")
    func parsing() throws {
        #expect(try DatabaseLocation.parse("ticketd.db") == .sqlite(path: "ticketd.db"))
        #expect(try DatabaseLocation.parse("/var/lib/ticketd/ticketd.db") == .sqlite(path: "/var/lib/ticketd/ticketd.db"))
        guard case .postgres(let pg) = try DatabaseLocation.parse("postgres://ticketd@db.example:6543/shop?sslmode=require") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(pg.user == "ticketd" && pg.host == "db.example" && pg.port == 6543 && pg.database == "shop")
        #expect(pg.sslMode == .require)
        guard case .postgres(let local) = try DatabaseLocation.parse("postgresql://me@127.0.0.1/db") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(local.port == 5432 && local.sslMode == .disable, "loopback defaults to disable")
        guard case .postgres(let remote) = try DatabaseLocation.parse("postgres://me@db.example/db") else {
            Issue.record("not PostgreSQL")
            return
        }
        #expect(remote.sslMode == .verifyFull, "elsewhere the default checks the server")
        #expect(remote.description == "postgres://me@db.example:5432/db?sslmode=verify-full")
    }

    @Test("bad URLs are errors naming the key; a password in the URL is refused", arguments: [
        "postgres://me:secret@db.example/db", "postgres://db.example/db", "postgres://me@db.example/",
        "postgres://me@db.example/db?sslmode=prefer", "postgres://me@db.example/db?connect_timeout=3",
        "postgres://me@db.example:99999/db",
    ])
    func badURLs(url: String) throws {
        #expect {
            try ConfigurationLoader.parse(yaml: "database: \"\(url)\"")
        } throws: { error in
            guard let e = error as? ConfigurationError else { return false }
            return e.key == "database" && (!url.contains("secret") || e.message.contains("database_password_file"))
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(path: nil, overrides: ConfigurationOverrides(database: url))
        }
    }

    @Test("node_id, database_pool_size and database_password_file are read; bad values name the key")
    func keys() throws {
        let config = try ConfigurationLoader.parse(yaml: """
            database: postgres://ticketd@127.0.0.1:5432/ticketd
            node_id: shop-1
            database_pool_size: 4
            database_password_file: /nonexistent/password
            """)
        #expect(config.nodeIdentity == "shop-1")
        #expect(config.databasePoolSize == 4)
        #expect(config.databaseLocation.isPostgres)
        #expect { try ConfigurationLoader.readDatabasePassword(config, environment: [:]) } throws: { error in
            (error as? ConfigurationError)?.key == "database_password_file"
        }
        #expect { try ConfigurationLoader.parse(yaml: "database_pool_size: 1") } throws: { error in
            (error as? ConfigurationError)?.key == "database_pool_size"
        }
        #expect { try ConfigurationLoader.parse(yaml: "node_id: \"two words\"") } throws: { error in
            (error as? ConfigurationError)?.key == "node_id"
        }
        let defaults = try ConfigurationLoader.load(path: nil)
        #expect(defaults.databasePoolSize == 10)
        #expect(defaults.nodeIdentity.hasSuffix(":8080"), "host name and listen port by default")
    }

    @Test("the password is read from its file, trimmed, or from the systemd credential")
    func password() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ticketd-pw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("pw").path
        try " s3cret\n".write(toFile: file, atomically: true, encoding: .utf8)
        var config = try ConfigurationLoader.parse(yaml: "database_password_file: \(file)")
        #expect(try ConfigurationLoader.readDatabasePassword(config, environment: [:]) == "s3cret")
        config.databasePasswordFile = nil
        #expect(try ConfigurationLoader.readDatabasePassword(config, environment: [:]) == nil)
        try "cred\n".write(toFile: dir.appendingPathComponent("database-password").path, atomically: true, encoding: .utf8)
        #expect(try ConfigurationLoader.readDatabasePassword(config, environment: ["CREDENTIALS_DIRECTORY": dir.path]) == "cred")
        try "  \n".write(toFile: file, atomically: true, encoding: .utf8)
        config.databasePasswordFile = file
        #expect { try ConfigurationLoader.readDatabasePassword(config, environment: [:]) } throws: { error in
            (error as? ConfigurationError)?.key == "database_password_file"
        }
    }
}
