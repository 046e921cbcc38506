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

    /// Starts reading `fd`, the read end of the pipe (the parent's write end must be closed),
    /// which the collector owns from now on: it is closed at the end of the pipe.
    init(reading fd: Int32) {
        let thread = Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 8192)
            while true {
                let n = read(fd, &chunk, chunk.count)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { _ = close(fd) }
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

/// The end of one child process, seen by a thread of its own that waits for it with `waitid`:
/// first with `WNOWAIT`, so that the status is known (and `ChildProcess.signal` stops) before
/// the child is reaped and its pid can be reused.
final class ChildExit: @unchecked Sendable {
    private let condition = NSCondition()
    private var status: ExitStatus?

    /// Starts watching `pid`, a child of this process that nothing else reaps.
    init(pid: pid_t) {
        Thread.detachNewThread { [self] in
            var info = siginfo_t()
            var result: Int32
            repeat {
                result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT)
            } while result == -1 && errno == EINTR
            let ended = result == 0
                ? ExitStatus(code: info._sifields._sigchld.si_status, bySignal: info.si_code != CLD_EXITED)
                : ExitStatus(code: -1, bySignal: false)  // no such child: nothing to wait for
            condition.lock()
            status = ended
            condition.broadcast()
            condition.unlock()
            var reaped: Int32 = 0
            while waitpid(pid, &reaped, 0) == -1 && errno == EINTR {}
        }
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

/// A child process started by the harness (`Spawning.spawn`: it keeps none of this process's
/// descriptors but its own standard streams), its standard output and error captured, and
/// optionally its standard input a pipe the test writes to.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let stdout: OutputCollector
    let stderr: OutputCollector
    /// The write end of its standard input when asked for (else it reads /dev/null).
    let input: FileHandle?
    private let end: ChildExit

    init(_ executable: String, _ arguments: [String], in directory: URL, environment: [String: String],
         writableInput: Bool = false) throws {
        let out = try Spawning.pipe()
        let err = try Spawning.pipe()
        let stdinPipe = writableInput ? try Spawning.pipe() : nil
        do {
            pid = try Spawning.spawn(executable, arguments, environment: environment, directory: directory.path,
                                     stdin: stdinPipe?.read, stdout: out.write, stderr: err.write)
        } catch {
            for fd in [out.read, out.write, err.read, err.write, stdinPipe?.read, stdinPipe?.write].compactMap({ $0 }) {
                _ = close(fd)
            }
            throw error
        }
        _ = close(out.write)
        _ = close(err.write)
        if let stdinPipe { _ = close(stdinPipe.read) }
        input = stdinPipe.map { FileHandle(fileDescriptor: $0.write, closeOnDealloc: true) }
        end = ChildExit(pid: pid)
        stdout = OutputCollector(reading: out.read)
        stderr = OutputCollector(reading: err.read)
    }

    /// The exit status once the process has ended, else nil.
    var exited: ExitStatus? { end.current }

    /// Blocks until the process ends (its status) or `timeout` seconds pass (nil).
    func wait(timeout: Double) -> ExitStatus? { end.wait(timeout: timeout) }

    /// Blocks until the process ends and its output has been read to the end (5 s more at most:
    /// a process it left behind may hold the pipes): its status and output; nil when it is still
    /// running after `timeout` seconds.
    func result(timeout: Double) -> CommandResult? {
        guard let status = wait(timeout: timeout) else { return nil }
        stdout.waitForEnd(timeout: 5)
        stderr.waitForEnd(timeout: 5)
        return CommandResult(status: status, stdout: stdout.text, stderr: stderr.text)
    }

    /// Sends `signal`, unless the process has ended (its pid may then be another's).
    func signal(_ signal: Int32) {
        guard exited == nil else { return }
        kill(pid, signal)
    }
}

/// One `ticketd` child process with its standard output and error captured.
final class TicketdProcess: @unchecked Sendable {
    let directory: URL
    let arguments: [String]
    private let child: ChildProcess

    /// Starts `binary arguments…` with `directory` as its working directory.
    init(binary: URL? = nil, arguments: [String], directory: URL, environment extra: [String: String] = [:]) throws {
        let executable = try binary ?? TicketdBinary.require()
        self.directory = directory
        self.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID"] {
            environment[key] = nil
        }
        environment.merge(extra) { _, new in new }
        child = try ChildProcess(executable.path, arguments, in: directory, environment: environment)
    }

    var pid: Int32 { child.pid }
    var stdout: OutputCollector { child.stdout }
    var stderr: OutputCollector { child.stderr }

    /// The exit status once the process has ended, else nil.
    var exited: ExitStatus? { child.exited }

    func signal(_ signal: Int32) { child.signal(signal) }

    /// `ChildProcess.result(timeout:)`: for a command run to its end.
    func result(timeout: Double) -> CommandResult? { child.result(timeout: timeout) }

    /// Blocks until the process ends or the deadline passes (nil). Once it has ended, also until
    /// what it wrote has been read (the end of both pipes, for at most 2 s more: a child it
    /// started may hold them open), so that its last log lines are in `stderr.text`.
    func waitForExit(timeout: Double) -> ExitStatus? {
        let status = child.wait(timeout: timeout)
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
        guard let result = child.result(timeout: timeout) else {
            child.terminate(grace: 2)
            throw HarnessError("ticketd \(arguments.joined(separator: " ")) did not finish within \(timeout) s\n\(child.log)")
        }
        return result
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
