/// Exponential backoff with full jitter between attempts: the n-th retry waits a random time
/// in [base·2^(n-1)/2, base·2^(n-1)], capped at `maxSeconds`.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseSeconds: Double
    public var maxSeconds: Double

    public init(maxAttempts: Int, baseSeconds: Double, maxSeconds: Double) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseSeconds = max(0, baseSeconds)
        self.maxSeconds = max(0, maxSeconds)
    }

    /// Whether another run is allowed after `attempts` runs.
    public func hasAttemptsLeft(after attempts: Int) -> Bool { attempts < maxAttempts }

    /// Seconds to wait before the next attempt after `attempts` runs (attempts ≥ 1).
    public func backoff<R: RandomNumberGenerator>(after attempts: Int, using rng: inout R) -> Double {
        let exponent = Double(max(0, min(attempts - 1, 30)))
        let ceiling = min(maxSeconds, baseSeconds * pow2(exponent))
        guard ceiling > 0 else { return 0 }
        return Double.random(in: (ceiling / 2)...ceiling, using: &rng)
    }

    public func backoff(after attempts: Int) -> Double {
        var rng = SystemRandomNumberGenerator()
        return backoff(after: attempts, using: &rng)
    }

    private func pow2(_ e: Double) -> Double {
        var r = 1.0
        for _ in 0..<Int(e) { r *= 2 }
        return r
    }
}
