import Synchronization

/// Learns how long cooking really takes, for `estimated_ready_at`: a moving average of the
/// ratio of actual to expected cooking time and of the time between claims and placement.
/// The kitchen records finished cooks; the HTTP side asks for estimates.
public final class CookTimeEstimator: Sendable {
    private struct State {
        var ratio = 1.0
        var samples = 0
    }

    private let state = Mutex(State())
    /// Weight of a new sample in the moving average.
    private let alpha = 0.2

    public init() {}

    /// Records one finished cook: `expected` seconds from the menu took `actual` seconds.
    public func record(expected: Double, actual: Double) {
        guard expected > 0.05, actual >= 0, actual.isFinite else { return }
        let sample = min(max(actual / expected, 0.1), 10)
        state.withLock { s in
            s.ratio = s.samples == 0 ? sample : s.ratio * (1 - alpha) + sample * alpha
            s.samples += 1
        }
    }

    /// Actual seconds per expected second, 1 until something has been cooked.
    public var ratio: Double { state.withLock { $0.ratio } }
}
