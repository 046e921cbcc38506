/// Ticket numbers run 1...max, handed out in order from the last one given, wrapping around,
/// skipping numbers that a live order holds.
public struct TicketNumbering: Sendable, Hashable {
    public var maxNumber: Int

    public init(maxNumber: Int) {
        self.maxNumber = max(1, maxNumber)
    }

    /// The candidates to try after `last`, in order: last+1, …, max, 1, …, last. `last` may be
    /// 0 (nothing handed out yet) or out of range after `max_number` shrank.
    public func candidates(after last: Int) -> some Sequence<Int> {
        let start = (last >= 1 && last <= maxNumber) ? last : 0
        return (0..<maxNumber).lazy.map { (start + $0) % maxNumber + 1 }
    }

    /// The first candidate after `last` that `isLive` says is free, or nil when all are live.
    public func next(after last: Int, isLive: (Int) throws -> Bool) rethrows -> Int? {
        for candidate in candidates(after: last) where try !isLive(candidate) {
            return candidate
        }
        return nil
    }
}
