#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Bounds how often a repeating message is logged: a loop that fails the same way (a full disk,
/// a database that is gone) must not fill the journal. A token bucket: up to `burst` lines at
/// once, then one per `interval` seconds; the line that gets through says how many were held
/// back since the last one. With the defaults a throttle lets through at most 3 + 10 / 2 = 8
/// lines in any 10 s.
public final class LogThrottle: Sendable {
    private struct State {
        var tokens: Double
        var last: Double
        var suppressed = 0
    }

    private let interval: Double
    private let burst: Double
    private let state: Mutex<State>
    private let clock: @Sendable () -> Double

    /// - Parameter clock: seconds on a monotonic clock (tests inject one).
    public init(interval: Double = 2, burst: Int = 3, clock: (@Sendable () -> Double)? = nil) {
        self.interval = max(0.001, interval)
        self.burst = Double(max(1, burst))
        let clock = clock ?? LogThrottle.monotonicSeconds
        self.clock = clock
        state = Mutex(State(tokens: Double(max(1, burst)), last: clock()))
    }

    /// Whether to log this occurrence: nil to stay silent, else how many occurrences were held
    /// back since the last line that got through (say so in the line when it is not 0).
    public func admit() -> Int? {
        let now = clock()
        return state.withLock { s -> Int? in
            s.tokens = min(burst, s.tokens + (now - s.last) / interval)
            s.last = now
            guard s.tokens >= 1 else {
                s.suppressed += 1
                return nil
            }
            s.tokens -= 1
            defer { s.suppressed = 0 }
            return s.suppressed
        }
    }

    @Sendable public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Exponential backoff for a loop that retries an operation that keeps failing: `delay()` after
/// each failure doubles from `base` up to `max` seconds; `reset()` after a success.
public struct FailureBackoff: Sendable {
    public var base: Double
    public var max: Double
    private var failures = 0

    public init(base: Double = 0.05, max: Double = 5) {
        self.base = base
        self.max = max
    }

    /// The wait before the next try, counting one more failure.
    public mutating func delay() -> Double {
        defer { failures = Swift.min(failures + 1, 30) }
        var d = base
        for _ in 0..<failures { d *= 2; if d >= max { return max } }
        return Swift.min(d, max)
    }

    public mutating func reset() { failures = 0 }
}
