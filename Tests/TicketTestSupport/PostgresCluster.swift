import Foundation
import Synchronization

/// A throwaway PostgreSQL cluster for the tests of this process, from the Debian `postgresql`
/// package's binaries (`scripts/ensure-deps` installs it): made with `initdb` in a temporary
/// directory on first use, listening on a free loopback port and on a Unix socket in that
/// directory, and stopped (its directory removed) when the process exits. As root (CI), the
/// server runs as the `postgres` user (PostgreSQL refuses to run as root). Clusters left by a
/// test process that was killed are stopped by the next one.
///
/// Each test gets a database of its own, copied from a migrated template (`freshDatabase()`).
public final class PostgresCluster: Sendable {
    public let directory: String
    public let port: Int
    public let binaries: String
    /// The superuser the tests connect as (trust authentication on loopback and the socket).
    public let user = "postgres"
    private let counter = Atomic<Int>(0)

    private init(directory: String, port: Int, binaries: String) {
        self.directory = directory
        self.port = port
        self.binaries = binaries
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The cluster of this process, started on first use.
    public static func shared() async throws -> PostgresCluster {
        try await starting.value
    }

    private static let starting = Task<PostgresCluster, any Error> {
        try await offPool {
            let cluster = try start()
            try cluster.prepareTemplate()
            return cluster
        }
    }

    /// A cluster of its own, for a test that restarts or stops it (stopped at exit too).
    public static func startPrivate() async throws -> PostgresCluster {
        try await offPool { try start() }
    }

    /// The directory of the binaries: the newest /usr/lib/postgresql/N/bin with `initdb`.
    static func findBinaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for v in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/initdb") {
            return "\(root)/\(v)/bin"
        }
        throw Failure(description: "PostgreSQL's server binaries are missing (no /usr/lib/postgresql/*/bin/initdb): run scripts/ensure-deps, or apt-get install postgresql")
    }

    static var isRoot: Bool { getuid() == 0 }

    /// Runs `argv` (as `postgres` when root) and returns its output; throws with it on failure.
    /// posix_spawn and waitpid, not Foundation's Process: `pg_ctl start` as a child of `runuser`
    /// was left a zombie by Process's waitUntilExit here (it never saw the child end).
    @discardableResult
    static func run(_ argv: [String], asServerUser: Bool = true) throws -> String {
        var args = argv
        if asServerUser && isRoot { args = ["/usr/sbin/runuser", "-u", "postgres", "--"] + args }
        let pipe = try Spawning.pipe()
        // Every other descriptor is closed in the child: the server `pg_ctl start` leaves running
        // would otherwise keep, for as long as it runs, whatever the test process had open at
        // that instant without close-on-exec — another test's pipes and sockets.
        let pid: pid_t
        do {
            pid = try Spawning.spawn(args[0], Array(args.dropFirst()), environment: ProcessInfo.processInfo.environment,
                                     stdout: pipe.write, stderr: pipe.write)
        } catch {
            close(pipe.read)
            close(pipe.write)
            throw Failure(description: "\(error)")
        }
        close(pipe.write)
        // The server started by pg_ctl keeps no copy of the pipe (its output goes to its log), so
        // the output ends when the command does.
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(pipe.read, &buffer, buffer.count)
            if n > 0 { output += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close(pipe.read)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = String(decoding: output, as: UTF8.self)
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw Failure(description: "\(args.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    /// A free TCP port on 127.0.0.1 (bound, read, released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure(description: "bind() failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    private static let prefix = "ticketd-pg-"

    private static func start() throws -> PostgresCluster {
        let binaries = try findBinaries()
        stopLeftovers(binaries: binaries)
        let base = FileManager.default.temporaryDirectory.path
        let directory = "\(base)/\(prefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        if isRoot {
            try run(["/bin/chown", "postgres:postgres", directory], asServerUser: false)
        }
        let data = directory + "/data"
        try run([binaries + "/initdb", "-D", data, "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--no-sync"])
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try freePort()
            // fsync off: the tests kill processes and restart the server, never the machine, and the
            // operating system keeps what was written; it saves the disk's flushes in every test.
            let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c full_page_writes=off -c shared_buffers=64MB"
            do {
                try run([binaries + "/pg_ctl", "-D", data, "-l", directory + "/log", "-w", "-t", "60", "-o", options, "start"])
                let cluster = PostgresCluster(directory: directory, port: port, binaries: binaries)
                registerStopAtExit(cluster)
                return cluster
            } catch {
                lastError = error
            }
        }
        throw lastError ?? Failure(description: "could not start PostgreSQL")
    }

    /// Stops clusters left in the temporary directory by test processes that no longer run.
    private static func stopLeftovers(binaries: String) {
        let base = FileManager.default.temporaryDirectory.path
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(prefix) {
            let pidText = name.dropFirst(prefix.count).prefix { $0 != "-" }
            guard let pid = Int32(pidText), kill(pid, 0) != 0 else { continue }
            let dir = "\(base)/\(name)"
            _ = try? run([binaries + "/pg_ctl", "-D", dir + "/data", "-m", "immediate", "-w", "stop"])
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    private static let atExit = Mutex<[PostgresCluster]>([])

    private static func registerStopAtExit(_ cluster: PostgresCluster) {
        let first = atExit.withLock { list -> Bool in
            list.append(cluster)
            return list.count == 1
        }
        if first {
            atexit {
                for cluster in PostgresCluster.atExit.withLock({ $0 }) { cluster.stop() }
            }
        }
    }

    /// Stops the server at once and removes its directory.
    public func stop() {
        _ = try? Self.run([binaries + "/pg_ctl", "-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `pg_ctl restart -m immediate`: a crash of the database and its recovery.
    public func restartImmediately() async throws {
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c full_page_writes=off -c shared_buffers=64MB"
        let argv = [binaries + "/pg_ctl", "-D", directory + "/data", "-l", directory + "/log", "-w", "-t", "60",
                    "-m", "immediate", "-o", options, "restart"]
        try await offPool { _ = try Self.run(argv) }
    }

    /// Runs SQL with psql on the socket (setup only).
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        try Self.run([binaries + "/psql", "-h", directory, "-p", String(port), "-U", user, "-d", database,
                      "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql])
    }

    static let template = "ticketd_template"

    /// The template: an empty database, migrated by the test support before the first copy.
    private func prepareTemplate() throws {
        try psql("CREATE DATABASE \(Self.template)")
    }

    /// The URL of `database` on this cluster, as `database:` takes it.
    public func url(_ database: String) -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)" }

    /// A new, empty database (a store migrates it when it opens).
    public func emptyDatabase() async throws -> String {
        let name = "e\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
        try await offPool { try self.psql("CREATE DATABASE \(name)") }
        return name
    }

    /// A new database for one test, copied from the template.
    public func freshDatabase() async throws -> String {
        let name = "t\(getpid())_\(counter.add(1, ordering: .relaxed).newValue)"
        try await offPool { try self.psql("CREATE DATABASE \(name) TEMPLATE \(Self.template)") }
        return name
    }
}
