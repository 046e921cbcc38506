import Testing
import TicketCore
import TicketTestSupport

@Suite("RetryPolicy", .timeLimit(.minutes(1)))
struct RetryPolicyTests {
    /// base·2^(n-1), capped: what the n-th retry waits at most.
    static func ceiling(base: Double, max: Double, attempts: Int) -> Double {
        var c = base
        for _ in 1..<Swift.max(1, attempts) { c *= 2 }
        return Swift.min(max, c)
    }

    @Test("backoff lies in [ceiling/2, ceiling] for each attempt", arguments: 1...12)
    func withinBounds(attempts: Int) {
        let policy = RetryPolicy(maxAttempts: 20, baseSeconds: 0.25, maxSeconds: 60)
        let c = Self.ceiling(base: 0.25, max: 60, attempts: attempts)
        var rng = SeededGenerator(seed: UInt64(attempts))
        var samples: [Double] = []
        for _ in 0..<500 {
            let b = policy.backoff(after: attempts, using: &rng)
            #expect(b >= c / 2 && b <= c, "attempt \(attempts): \(b) outside [\(c / 2), \(c)]")
            samples.append(b)
        }
        // Jitter: the waits are spread over the range, not a constant.
        #expect(Set(samples).count > 400)
        #expect(samples.min()! < c * 0.6 && samples.max()! > c * 0.9)
    }

    @Test("backoff grows exponentially until the cap")
    func grows() {
        let policy = RetryPolicy(maxAttempts: 10, baseSeconds: 1, maxSeconds: 1000)
        var rng = SeededGenerator(seed: 42)
        var previousMax = 0.0
        for attempts in 1...9 {
            let samples = (0..<200).map { _ in policy.backoff(after: attempts, using: &rng) }
            // [c/2, c] with c doubling each time: every wait is at least the longest before.
            #expect(samples.min()! >= previousMax, "attempt \(attempts)")
            let mean = samples.reduce(0, +) / Double(samples.count)
            let c = Double(1 << (attempts - 1))
            #expect(abs(mean - 0.75 * c) < 0.1 * c, "attempt \(attempts): mean \(mean), ceiling \(c)")
            previousMax = samples.max()!
        }
    }

    @Test("backoff is capped at maxSeconds, also for huge attempt counts", arguments: [7, 8, 20, 64, 1000, Int.max])
    func capped(attempts: Int) {
        let policy = RetryPolicy(maxAttempts: 3, baseSeconds: 1, maxSeconds: 60)
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let b = policy.backoff(after: attempts, using: &rng)
            #expect(b.isFinite)
            #expect(b >= 30 && b <= 60, "\(b)")
        }
        // The system generator variant obeys the same bounds.
        let b = policy.backoff(after: attempts)
        #expect(b >= 30 && b <= 60)
    }

    @Test("attempts below 1 wait like the first retry; zero base or cap means no wait")
    func edges() {
        var rng = SeededGenerator(seed: 1)
        let policy = RetryPolicy(maxAttempts: 3, baseSeconds: 4, maxSeconds: 60)
        for attempts in [-3, 0, 1] {
            let b = policy.backoff(after: attempts, using: &rng)
            #expect(b >= 2 && b <= 4, "\(attempts): \(b)")
        }
        #expect(RetryPolicy(maxAttempts: 3, baseSeconds: 0, maxSeconds: 60).backoff(after: 5, using: &rng) == 0)
        #expect(RetryPolicy(maxAttempts: 3, baseSeconds: 1, maxSeconds: 0).backoff(after: 5, using: &rng) == 0)
        #expect(RetryPolicy(maxAttempts: 3, baseSeconds: -1, maxSeconds: -1).backoff(after: 2, using: &rng) == 0)
    }

    @Test("the same seed gives the same waits")
    func deterministicWithSeed() {
        let policy = RetryPolicy(maxAttempts: 5, baseSeconds: 1, maxSeconds: 60)
        var a = SeededGenerator(seed: 99), b = SeededGenerator(seed: 99)
        let xs = (1...5).map { policy.backoff(after: $0, using: &a) }
        let ys = (1...5).map { policy.backoff(after: $0, using: &b) }
        #expect(xs == ys)
    }

    @Test("hasAttemptsLeft counts runs in all, the first included")
    func attemptsLeft() {
        let policy = RetryPolicy(maxAttempts: 3, baseSeconds: 1, maxSeconds: 60)
        #expect(policy.hasAttemptsLeft(after: 0))
        #expect(policy.hasAttemptsLeft(after: 1))
        #expect(policy.hasAttemptsLeft(after: 2))
        #expect(!policy.hasAttemptsLeft(after: 3))
        #expect(!policy.hasAttemptsLeft(after: 4))

        let once = RetryPolicy(maxAttempts: 0, baseSeconds: 1, maxSeconds: 60)
        #expect(once.maxAttempts == 1)
        #expect(once.hasAttemptsLeft(after: 0))
        #expect(!once.hasAttemptsLeft(after: 1))
    }
}
