import Foundation
import Synchronization
import Testing

public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out waiting for \(what)" }
}

/// Checks `condition` every `poll` until it holds; records an issue and throws at the deadline.
/// A poll interval with a deadline, not synchronisation by sleeping.
public func waitUntil(_ what: String, timeout: Duration = .seconds(20), poll: Duration = .milliseconds(5),
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now >= deadline {
            Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
            throw TimedOut(what: what)
        }
        try await Task.sleep(for: poll)
    }
}

/// Checks `produce` every `poll` until it gives a value; records an issue and throws at the deadline.
public func waitFor<T>(_ what: String, timeout: Duration = .seconds(20), poll: Duration = .milliseconds(5),
                       sourceLocation: SourceLocation = #_sourceLocation,
                       _ produce: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await produce() { return value }
        if ContinuousClock.now >= deadline {
            Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
            throw TimedOut(what: what)
        }
        try await Task.sleep(for: poll)
    }
}

/// The first `count` elements of `stream`, or nil if they do not all come within `timeout`.
public func collect<T: Sendable>(_ stream: AsyncStream<T>, count: Int, timeout: Duration = .seconds(20)) async -> [T]? {
    await withTaskGroup(of: [T]?.self) { group in
        group.addTask {
            var out: [T] = []
            for await element in stream {
                out.append(element)
                if out.count == count { return out }
            }
            return nil   // finished early
        }
        group.addTask {
            try? await Task.sleep(for: timeout)   // a deadline, not synchronisation
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// A fresh temporary directory, removed afterwards.
public func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("ticketd-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    return try await body(dir)
}

/// A counter shared between tasks.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    public var current: Int { value.load(ordering: .sequentiallyConsistent) }
}
