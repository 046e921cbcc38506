/// How often a live feed's events may follow its changes. Ordinary changes are coalesced to at
/// most one event per `interval`, however fast orders move. An urgent change (on the board: a
/// number called, or one leaving the Ready column) goes out as soon as `urgentGap` has passed
/// since the previous event, while the urgent budget lasts: `urgentBurst` events, refilled at
/// `urgentPerSecond`. So a called number reaches the screens at once while intake changes the
/// board all the time, and a kitchen making thousands of orders ready a second still sends at
/// most `1/interval + urgentPerSecond` events a second.
struct LivePacing: Sendable {
    var interval: Duration = .milliseconds(250)
    var urgentGap: Duration = .milliseconds(50)
    /// 0: no change is urgent.
    var urgentBurst: Double = 0
    var urgentPerSecond: Double = 0

    /// The board's: ordinary changes (new orders, cooks claiming) twice a second, numbers called
    /// at once, up to two a second on average (four in a burst): at most four events a second.
    static let board = LivePacing(interval: .milliseconds(500), urgentGap: .milliseconds(50),
                                  urgentBurst: 4, urgentPerSecond: 2)

    /// The producer's memory between events.
    struct Clock: Sendable {
        var lastEvent: ContinuousClock.Instant
        /// Urgent events that may go out early now.
        var budget: Double
        /// When `budget` was last brought up to date.
        var refilledAt: ContinuousClock.Instant?
    }

    /// Whether an event is due `now`, and if not, when it will be (without anything new):
    /// ordinary changes `interval` after the last event, urgent ones `urgentGap` after it while
    /// the budget lasts (an urgent event that goes out early takes one from the budget), and
    /// with nothing pending, the refresh.
    func due(changes: Bool, urgent: Bool, clock: inout Clock, refresh: Duration,
             now: ContinuousClock.Instant) -> (now: Bool, at: ContinuousClock.Instant) {
        if urgentPerSecond > 0 {
            let since = now - (clock.refilledAt ?? now)
            clock.budget = min(urgentBurst, clock.budget + Self.seconds(since) * urgentPerSecond)
        }
        clock.refilledAt = now
        let ordinaryAt = clock.lastEvent + (changes ? interval : refresh)
        if now >= ordinaryAt { return (true, ordinaryAt) }
        guard urgent, urgentBurst > 0 else { return (false, ordinaryAt) }
        if clock.budget >= 1 {
            let urgentAt = clock.lastEvent + urgentGap
            if now >= urgentAt {
                clock.budget -= 1
                return (true, urgentAt)
            }
            return (false, urgentAt)
        }
        // The budget is spent: the next whole unit, or the ordinary time if that comes first.
        let refill = Duration.milliseconds(Int64(((1 - clock.budget) / urgentPerSecond * 1000).rounded(.up)))
        return (false, min(ordinaryAt, max(now + refill, clock.lastEvent + urgentGap)))
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
