import Foundation
import Testing
import TicketTestSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of the end-to-end harness itself (binary not found, no log line in time, …).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A monotonic deadline.
struct Deadline: Sendable {
    let instant: ContinuousClock.Instant

    init(seconds: Double) {
        instant = .now + .milliseconds(Int64((seconds * 1000).rounded()))
    }

    var remaining: Double {
        let d = instant - .now
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    var hasPassed: Bool { remaining <= 0 }
}

/// Runs blocking work (sockets, pipes, process exit) on a thread of its own, so the cooperative
/// threads that Swift Testing runs tests on stay free.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// Where the `ticketd` executable lives: next to the test bundle, in the same products
/// directory (SwiftPM builds it first, as the EndToEndTests target depends on it).
enum TicketdBinary {
    static let url: URL? = locate()

    static func require() throws -> URL {
        guard let url else {
            throw HarnessError("""
                the ticketd executable was not found next to the test bundle (looked in: \
                \(searchDirectories.map(\.path).joined(separator: ", "))); build it with `swift build --build-tests` \
                or set TICKETD_BINARY
                """)
        }
        return url
    }

    static var searchDirectories: [URL] {
        var dirs: [URL] = []
        func addWithParent(_ url: URL) {
            dirs.append(url)
            dirs.append(url.deletingLastPathComponent())
        }
        // The test bundle: on Linux `…/debug/ticketdPackageTests.xctest` (an executable); on macOS
        // `…/debug/ticketdPackageTests.xctest/Contents/MacOS/ticketdPackageTests`.
        var executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        for _ in 0..<4 where executable.pathComponents.count > 1 {
            if executable.pathExtension == "xctest" { break }
            executable.deleteLastPathComponent()
        }
        if executable.pathExtension == "xctest" { addWithParent(executable.deletingLastPathComponent()) }
        addWithParent(URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent())
        let bundle = Bundle.main.bundleURL.resolvingSymlinksInPath()
        addWithParent(bundle.pathExtension == "xctest" ? bundle.deletingLastPathComponent() : bundle)
        for bundle in Bundle.allBundles where bundle.bundleURL.pathExtension == "xctest" {
            addWithParent(bundle.bundleURL.deletingLastPathComponent())
        }
        // Last resort: the package's own .build directory.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        dirs.append(root.appendingPathComponent(".build/debug"))
        var seen = Set<String>()
        return dirs.filter { seen.insert($0.standardizedFileURL.path).inserted }
    }

    static func locate() -> URL? {
        if let path = ProcessInfo.processInfo.environment["TICKETD_BINARY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        for dir in searchDirectories {
            let candidate = dir.appendingPathComponent("ticketd")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        return nil
    }
}

/// Collects everything a child writes to one pipe, on a reader thread of its own, and lets
/// callers wait (with a deadline) for text to appear.
final class OutputCollector: @unchecked Sendable {
    private let condition = NSCondition()
    private var data = Data()
    private var finished = false
    private let pipe: Pipe

    init(_ pipe: Pipe) {
        self.pipe = pipe
    }

    /// Starts reading; call after the process has started (the parent's write end is closed).
    func start() {
        let fd = pipe.fileHandleForReading.fileDescriptor
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 8192)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0, errno == EINTR { continue }
                condition.lock()
                if n > 0 { data.append(contentsOf: chunk[0..<n]) } else { finished = true }
                condition.broadcast()
                condition.unlock()
                if n <= 0 { return }
            }
        }
        thread.start()
    }

    var text: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// Waits until `match` finds something in the text so far, or the deadline passes, or the
    /// pipe reaches its end without a match (nil).
    func wait<T>(timeout: Double, for match: (String) -> T?) -> T? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let found = match(String(decoding: data, as: UTF8.self)) { return found }
            if finished { return nil }
            if !condition.wait(until: deadline) {
                return match(String(decoding: data, as: UTF8.self))
            }
        }
    }

    /// Waits for the end of the pipe (the child and everything it started have closed it).
    @discardableResult
    func waitForEnd(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while !finished {
            if !condition.wait(until: deadline) { return finished }
        }
        return true
    }
}

/// How a child process ended.
struct ExitStatus: Sendable, Equatable, CustomStringConvertible {
    let code: Int32
    let bySignal: Bool

    var isCleanExit: Bool { !bySignal && code == 0 }
    var description: String { bySignal ? "killed by signal \(code)" : "exit status \(code)" }
}

/// The end of one child process, seen by a thread of its own that waits for it with `waitid`
/// and `WNOWAIT` (which leaves the child for Foundation to reap). Foundation's `Process` learns
/// of the end from a socket the child inherits; a child that another thread spawns at that
/// instant, without closing what it inherits, keeps a copy, and Foundation then reports the end
/// only when that one ends too (CI saw a daemon that had exited "still running" 10 s later while
/// a PostgreSQL server, started beside it, held the copy). Whichever of the two reports first
/// wins: when Foundation reaps first, `waitid` finds no child and Foundation's handler reports.
final class ChildExit: @unchecked Sendable {
    private let condition = NSCondition()
    private var status: ExitStatus?

    /// Watches `process`, which must have been started (`run()`).
    init(_ process: Process) {
        process.terminationHandler = { [weak self] process in
            self?.report(ExitStatus(code: process.terminationStatus, bySignal: process.terminationReason == .uncaughtSignal))
        }
    }

    /// Starts the waiting thread; call after `process.run()`.
    func watch(pid: pid_t) {
        Thread.detachNewThread { [weak self] in
            var info = siginfo_t()
            var result: Int32
            repeat {
                result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
            } while result == -1 && errno == EINTR
            guard result == 0 else { return }
            let code = info._sifields._sigchld.si_status
            self?.report(ExitStatus(code: code, bySignal: info.si_code != CLD_EXITED))
        }
    }

    private func report(_ ended: ExitStatus) {
        condition.lock()
        if status == nil { status = ended }
        condition.broadcast()
        condition.unlock()
    }

    /// The exit status once the process has ended, else nil.
    var current: ExitStatus? {
        condition.lock()
        defer { condition.unlock() }
        return status
    }

    /// Blocks until the process ends (its status) or `timeout` seconds pass (nil).
    func wait(timeout: Double) -> ExitStatus? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while status == nil {
            if !condition.wait(until: deadline) { break }
        }
        return status
    }
}

/// One `ticketd` child process with its standard output and error captured.
final class TicketdProcess: @unchecked Sendable {
    let process: Process
    let directory: URL
    let arguments: [String]
    let stdout: OutputCollector
    let stderr: OutputCollector
    private let end: ChildExit

    /// Starts `binary arguments…` with `directory` as its working directory.
    init(binary: URL? = nil, arguments: [String], directory: URL, environment extra: [String: String] = [:]) throws {
        let executable = try binary ?? TicketdBinary.require()
        self.directory = directory
        self.arguments = arguments
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"] {
            environment[key] = nil
        }
        environment.merge(extra) { _, new in new }
        process.environment = environment
        let outPipe = Spawning.pipe()
        let errPipe = Spawning.pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        stdout = OutputCollector(outPipe)
        stderr = OutputCollector(errPipe)
        end = ChildExit(process)
        try Spawning.run(process)
        end.watch(pid: process.processIdentifier)
        stdout.start()
        stderr.start()
    }

    var pid: Int32 { process.processIdentifier }

    /// The exit status once the process has ended, else nil.
    var exited: ExitStatus? { end.current }

    func signal(_ signal: Int32) {
        guard exited == nil else { return }
        kill(pid, signal)
    }

    /// Blocks until the process ends or the deadline passes (nil). Once it has ended, also until
    /// what it wrote has been read (the end of both pipes, for at most 2 s more: a child it
    /// started may hold them open), so that its last log lines are in `stderr.text`.
    func waitForExit(timeout: Double) -> ExitStatus? {
        let status = end.wait(timeout: timeout)
        if status != nil {
            stdout.waitForEnd(timeout: 2)
            stderr.waitForEnd(timeout: 2)
        }
        return status
    }

    func waitForExit(timeout: Double) async throws -> ExitStatus? {
        try await onThread { self.waitForExit(timeout: timeout) }
    }

    /// Ends the process whatever state it is in: SIGTERM, then SIGKILL after `grace` seconds.
    /// Safe to call more than once; returns at once when the process has already ended.
    @discardableResult
    func terminate(grace: Double = 10) -> ExitStatus? {
        guard exited == nil else { return exited }
        signal(SIGTERM)
        if let status = waitForExit(timeout: grace) { return status }
        signal(SIGKILL)
        return waitForExit(timeout: 10)
    }

    /// Waits for `ticketd listening on 127.0.0.1:PORT` (or another `host`, as the daemon writes
    /// it) on standard error and returns the port.
    func waitUntilListening(host: String = "127.0.0.1", timeout: Double = 20) throws -> Int {
        let port = stderr.wait(timeout: timeout) { text -> Int? in
            guard let range = text.range(of: "ticketd listening on \(host):") else { return nil }
            let digits = text[range.upperBound...].prefix { $0.isNumber }
            // The line is complete once something follows the digits.
            guard !digits.isEmpty, digits.endIndex < text.endIndex else { return nil }
            return Int(digits)
        }
        guard let port else {
            let why = exited.map { "it ended (\($0))" } ?? "no such line within \(timeout) s"
            throw HarnessError("ticketd \(arguments.joined(separator: " ")) did not report its port: \(why)\n\(log)")
        }
        return port
    }

    /// Both captured streams, for failure messages.
    var log: String {
        "--- ticketd stderr ---\n\(stderr.text)--- ticketd stdout ---\n\(stdout.text)----------------------"
    }
}

/// A one-shot run of `ticketd` (migrate, check-config): its exit status and output.
struct CommandResult: Sendable, CustomStringConvertible {
    let status: ExitStatus
    let stdout: String
    let stderr: String

    var description: String { "\(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs `ticketd arguments…` in `directory` to completion (killed after `timeout` seconds).
func runTicketd(_ arguments: [String], in directory: URL, binary: URL? = nil, timeout: Double = 30) async throws -> CommandResult {
    try await onThread {
        let child = try TicketdProcess(binary: binary, arguments: arguments, directory: directory)
        guard let status = child.waitForExit(timeout: timeout) else {
            child.terminate(grace: 2)
            throw HarnessError("ticketd \(arguments.joined(separator: " ")) did not finish within \(timeout) s\n\(child.log)")
        }
        child.stdout.waitForEnd(timeout: 5)
        child.stderr.waitForEnd(timeout: 5)
        return CommandResult(status: status, stdout: child.stdout.text, stderr: child.stderr.text)
    }
}

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct ScratchDirectory: Sendable {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ticketd-e2e-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(contents.utf8).write(to: file)
        return file.path
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The package root, from this file's path (Tests/EndToEndTests/Support/…).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
