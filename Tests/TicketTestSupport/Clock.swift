import Synchronization
import TicketCore

/// A wall clock a test moves by hand: lease expiry, backoff, pickup timeouts and retention
/// without waiting for them. It starts at a fixed time (`TestClock()`), or at the real time and
/// keeps running with it (`TestClock.running()`, for tests where cooks and timers run for real).
public final class TestClock: WallClock {
    /// 2026-11-25T07:00:00.000Z
    public static let start = Timestamp(milliseconds: 1_795_590_000_000)

    private struct State {
        /// nil: the real time plus `offset`.
        var fixed: Timestamp?
        var offset: Int64 = 0
    }

    private let state: Mutex<State>
    private let system = SystemWallClock()

    public init(_ start: Timestamp = TestClock.start) { state = Mutex(State(fixed: start)) }

    private init(running: Void) { state = Mutex(State(fixed: nil)) }

    /// A clock that follows the real time, shifted by `advance(seconds:)`.
    public static func running() -> TestClock { TestClock(running: ()) }

    public func now() -> Timestamp {
        let s = state.withLock { $0 }
        let base = s.fixed ?? system.now()
        return Timestamp(milliseconds: base.milliseconds + s.offset)
    }

    /// Sets the time (a fixed clock stays there; a running one jumps there and runs on).
    public func set(_ time: Timestamp) {
        state.withLock { s in
            if s.fixed != nil { s.fixed = time; s.offset = 0 } else { s.offset = time.milliseconds - system.now().milliseconds }
        }
    }

    public func advance(seconds: Double) {
        state.withLock { $0.offset += Int64((seconds * 1000).rounded()) }
    }
}
