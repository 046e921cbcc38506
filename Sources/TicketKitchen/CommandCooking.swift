import Foundation
import Subprocess
import TicketCore

#if canImport(System)
import System
#else
import SystemPackage
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `kitchen.command` once per attempt with the order as JSON on standard input and
/// `TICKETD_TICKET`, `TICKETD_NUMBER`, `TICKETD_ORDER_ID` in its environment. Exit 0 means
/// ready; a non-zero exit, a signal, or `command_timeout_seconds` passing is a failed attempt
/// whose error keeps the tail of standard error. The program runs in its own process group;
/// on timeout or hand-back the whole group is killed and the program reaped.
public struct CommandCooking: CookingHandler {
    public var argv: [String]
    public var timeoutSeconds: Double
    /// Standard error kept for the last error (its tail).
    static let stderrTail = 1000
    static let stderrLimit = 1 << 20

    public init(argv: [String], timeoutSeconds: Double) {
        self.argv = argv
        self.timeoutSeconds = timeoutSeconds
    }

    struct Timeout: Error {}

    /// Writing to a pipe whose reader has gone (a program that exits without reading all of its
    /// input) raises SIGPIPE, whose default action ends the daemon. Ignored once, process-wide, so
    /// that the write fails with EPIPE instead; Subprocess resets dispositions in the child.
    static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// The order JSON on standard input. A program may exit without reading it: then its exit
    /// status, not the broken pipe, says how the attempt went.
    struct OrderInput: InputProtocol {
        let bytes: [UInt8]
        func write(with writer: StandardInputWriter) async throws {
            do {
                _ = try await writer.write(bytes)
            } catch {
                // EPIPE: the program stopped reading; its termination status decides.
            }
        }
    }

    public func cook(_ order: Order) async throws {
        guard let program = argv.first, !program.isEmpty else { throw CookingFailure("kitchen.command is empty") }
        _ = Self.ignoreBrokenPipes
        let input = OrderInput(bytes: Array(Self.orderJSON(order).utf8))
        let executable: Executable = program.contains("/") ? .path(FilePath(program)) : .name(program)
        let environment = Environment.inherit.updating([
            "TICKETD_TICKET": order.ticket,
            "TICKETD_NUMBER": String(order.number),
            "TICKETD_ORDER_ID": String(order.id),
        ])
        let arguments = Arguments(Array(argv.dropFirst()))
        let timeout = timeoutSeconds
        let outcome: Result<(TerminationStatus, String), any Error> = await withTaskGroup(of: Result<(TerminationStatus, String), any Error>?.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.processGroupID = 0  // its own group, so the kill reaches what it started
                options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(200))]
                do {
                    let result = try await run(executable, arguments: arguments, environment: environment,
                                               platformOptions: options, input: input,
                                               output: .discarded, error: .string(limit: Self.stderrLimit))
                    return .success((result.terminationStatus, result.standardError))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: .milliseconds(Int64((timeout * 1000).rounded())))
                    return .failure(Timeout())
                } catch {
                    return nil  // cancelled: the program finished first
                }
            }
            var first: Result<(TerminationStatus, String), any Error>?
            while first == nil, let next = await group.next() {
                first = next
            }
            group.cancelAll()
            return first ?? .failure(CancellationError())
        }
        if Task.isCancelled { throw CancellationError() }
        switch outcome {
        case .success(let (status, stderr)):
            switch status {
            case .exited(0):
                return
            case .exited(let code):
                throw CookingFailure("\(program) exited with status \(code)" + Self.tail(stderr))
            case .signaled(let signal):
                throw CookingFailure("\(program) was killed by signal \(signal)" + Self.tail(stderr))
            }
        case .failure(let error):
            if error is Timeout {
                throw CookingFailure("\(program) timed out after \(timeoutSeconds) s and was killed")
            }
            if error is CancellationError { throw error }
            throw CookingFailure("\(program) could not run: \(error)")
        }
    }

    static func tail(_ stderr: String) -> String {
        let trimmed = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return "" }
        return ": " + String(trimmed.suffix(stderrTail))
    }

    /// The order as the program reads it on standard input.
    static func orderJSON(_ order: Order) -> String {
        struct Payload: Encodable {
            var id: Int64
            var ticket: String
            var number: Int
            var priority: String
            var items: [OrderLine]
            var customer: String?
            var note: String?
            var attempt: Int
            var max_attempts: Int
            var cook_seconds: Double
            var created_at: String
        }
        let payload = Payload(id: order.id, ticket: order.ticket, number: order.number, priority: order.priority.rawValue,
                              items: order.items, customer: order.customer, note: order.note, attempt: order.attempts,
                              max_attempts: order.maxAttempts, cook_seconds: order.cookSeconds,
                              created_at: order.createdAt.rfc3339)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(payload) else { return "{}" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
