import Synchronization

/// The systemd watchdog's question to a store, "do writes answer?", asked the same way of every
/// store: a ping write runs in a task of its own, at most one at a time (a write cannot be
/// cancelled, and awaiting it would hold the watchdog for as long as the database makes it
/// wait); a ping that fails because the database refuses it (`StoreError.unavailable`: down,
/// disk full) counts as an answer — the writer runs, restarting ticketd would not help — and so
/// does a batch still running within the time the database may legitimately make it wait.
public final class WriterPing: Sendable {
    private let state = Mutex<(inFlight: Bool, answered: Bool?)>((false, nil))

    public init() {}

    /// - Parameters:
    ///   - ping: one write through the store's writer.
    ///   - runningBatchSeconds: how long the writer's running batch has run (nil: none runs).
    ///   - patience: seconds a batch may legitimately wait on the database.
    public func writesAnswer(within timeout: Duration, patience: Double,
                             runningBatchSeconds: () -> Double?,
                             ping: @escaping @Sendable () async throws -> Void) async -> Bool {
        let start = state.withLock { p -> Bool in
            if p.inFlight { return false }
            p = (true, nil)
            return true
        }
        if start {
            Task {
                let answered: Bool
                do {
                    try await ping()
                    answered = true
                } catch StoreError.unavailable {
                    answered = true
                } catch {
                    answered = false
                }
                self.state.withLock { $0 = (false, answered) }
            }
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let (inFlight, answered) = state.withLock { ($0.inFlight, $0.answered) }
            if !inFlight, let answered { return answered }
            if let running = runningBatchSeconds(), running < patience { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
