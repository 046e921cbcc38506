import Testing
import TicketCore

@Suite("TicketNumbering", .timeLimit(.minutes(1)))
struct TicketNumberingTests {
    @Test("candidates run last+1 … max, then 1 … last")
    func candidateOrder() {
        let n = TicketNumbering(maxNumber: 5)
        #expect(Array(n.candidates(after: 0)) == [1, 2, 3, 4, 5])
        #expect(Array(n.candidates(after: 1)) == [2, 3, 4, 5, 1])
        #expect(Array(n.candidates(after: 3)) == [4, 5, 1, 2, 3])
        #expect(Array(n.candidates(after: 5)) == [1, 2, 3, 4, 5])
    }

    @Test("with nothing live, numbers are handed out in order and wrap at max")
    func inOrderAndWrapping() {
        let n = TicketNumbering(maxNumber: 4)
        var last = 0
        var handed: [Int] = []
        for _ in 0..<10 {
            let next = n.next(after: last) { _ in false }
            guard let next else { Issue.record("nil with nothing live"); return }
            handed.append(next)
            last = next
        }
        #expect(handed == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2])
    }

    @Test("live numbers are skipped, continuing from the last one (not lowest-free)")
    func skipsLive() {
        let n = TicketNumbering(maxNumber: 10)
        // 1 is free but 4 and 5 are live: after 3 comes 6, not 1.
        #expect(n.next(after: 3, isLive: { [4, 5].contains($0) }) == 6)
        // Wrapping past live numbers at the top.
        #expect(n.next(after: 8, isLive: { [9, 10, 1].contains($0) }) == 2)
        // Only `last` itself is free: it is the last candidate.
        #expect(n.next(after: 7, isLive: { $0 != 7 }) == 7)
    }

    @Test("nil when every number is live, after asking about each exactly once")
    func allLive() {
        let n = TicketNumbering(maxNumber: 6)
        var asked: [Int] = []
        #expect(n.next(after: 2, isLive: { asked.append($0); return true }) == nil)
        #expect(asked == [3, 4, 5, 6, 1, 2])
    }

    @Test("a last number out of range (max shrank, or garbage) starts again at 1",
          arguments: [-5, 0, 11, 999, Int.max])
    func lastOutOfRange(last: Int) {
        let n = TicketNumbering(maxNumber: 10)
        #expect(Array(n.candidates(after: last)) == Array(1...10))
        #expect(n.next(after: last, isLive: { $0 == 1 }) == 2)
    }

    @Test("max_number below 1 is treated as 1")
    func minimumMax() {
        let n = TicketNumbering(maxNumber: 0)
        #expect(n.maxNumber == 1)
        #expect(Array(n.candidates(after: 1)) == [1])
        #expect(n.next(after: 1, isLive: { _ in false }) == 1)
        #expect(n.next(after: 1, isLive: { _ in true }) == nil)
    }

    @Test("errors from the live check propagate")
    func liveCheckErrorsPropagate() {
        struct Boom: Error {}
        let n = TicketNumbering(maxNumber: 3)
        #expect(throws: Boom.self) { try n.next(after: 0, isLive: { _ in throw Boom() }) }
    }
}
