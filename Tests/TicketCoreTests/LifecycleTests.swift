import Testing
import TicketCore

/// The lifecycle of SPEC.md's diagram, written out by hand: every legal (status, event) pair with
/// the status it leads to and the stamps it sets. Every pair not listed here must be refused.
private struct Expected: Sendable {
    var to: OrderStatus
    var stamps: Set<Transition.Stamp>
}

private struct Pair: Hashable, Sendable {
    var from: OrderStatus
    var event: OrderEvent
}

private let legalTransitions: [Pair: Expected] = [
    Pair(from: .queued, event: .claim): Expected(to: .cooking, stamps: [.cookingAt]),
    Pair(from: .queued, event: .cancel): Expected(to: .cancelled, stamps: [.finishedAt]),
    Pair(from: .queued, event: .operatorCancel): Expected(to: .cancelled, stamps: [.finishedAt]),
    Pair(from: .cooking, event: .done): Expected(to: .ready, stamps: [.readyAt]),
    Pair(from: .cooking, event: .attemptFailed(attemptsLeft: true)): Expected(to: .queued, stamps: []),
    Pair(from: .cooking, event: .attemptFailed(attemptsLeft: false)): Expected(to: .failed, stamps: [.finishedAt]),
    Pair(from: .cooking, event: .handBack): Expected(to: .queued, stamps: []),
    Pair(from: .cooking, event: .operatorCancel): Expected(to: .cancelled, stamps: [.finishedAt]),
    Pair(from: .ready, event: .pickup): Expected(to: .pickedUp, stamps: [.finishedAt]),
    Pair(from: .ready, event: .expire): Expected(to: .expired, stamps: [.finishedAt]),
    Pair(from: .ready, event: .operatorCancel): Expected(to: .cancelled, stamps: [.finishedAt]),
    Pair(from: .failed, event: .operatorRequeue): Expected(to: .queued, stamps: [.clearProgress]),
]

@Suite("Lifecycle", .timeLimit(.minutes(1)))
struct LifecycleTests {
    @Test("apply gives the SPEC's answer for every (status, event) pair",
          arguments: OrderStatus.allCases, OrderEvent.all)
    func everyPair(status: OrderStatus, event: OrderEvent) {
        let result = Lifecycle.apply(event, to: status)
        if let expected = legalTransitions[Pair(from: status, event: event)] {
            guard case .success(let transition) = result else {
                Issue.record("\(event) from \(status) should lead to \(expected.to), got \(result)")
                return
            }
            #expect(transition.from == status)
            #expect(transition.to == expected.to)
            #expect(transition.event == event)
            #expect(transition.stamps == expected.stamps)
            #expect(transition.versionBump == 1)
            // finished_at is stamped exactly when the target is final.
            #expect(transition.stamps.contains(.finishedAt) == expected.to.isFinal)
        } else {
            #expect(result == .failure(InvalidTransition(from: status, event: event)),
                    "\(event) from \(status) must be refused")
        }
    }

    @Test("the table covers 12 legal pairs of the 70, and the store's enumerations are complete")
    func tableShape() {
        #expect(OrderStatus.allCases.count == 7)
        #expect(OrderEvent.all.count == 10)
        #expect(Set(OrderEvent.all).count == 10)
        var legal = 0
        for status in OrderStatus.allCases {
            for event in OrderEvent.all {
                if case .success = Lifecycle.apply(event, to: status) { legal += 1 }
            }
        }
        #expect(legal == 12)
        #expect(legalTransitions.count == 12)
    }

    @Test("final and live statuses")
    func finalStatuses() {
        let final: Set<OrderStatus> = [.pickedUp, .cancelled, .failed, .expired]
        for status in OrderStatus.allCases {
            #expect(status.isFinal == final.contains(status), "\(status)")
            #expect(status.isLive == !final.contains(status), "\(status)")
        }
        #expect(Set(OrderStatus.live) == [.queued, .cooking, .ready])
        #expect(OrderStatus.pickedUp.rawValue == "picked_up")
    }

    @Test("no event leaves a final status except an operator requeue of a failed order")
    func finalStatusesAreSinks() {
        for status in OrderStatus.allCases where status.isFinal {
            for event in OrderEvent.all {
                let allowed = status == .failed && event == .operatorRequeue
                if case .success = Lifecycle.apply(event, to: status) {
                    #expect(allowed, "\(event) from \(status)")
                } else {
                    #expect(!allowed, "\(event) from \(status)")
                }
            }
        }
    }

    @Test("an invalid transition says what was refused")
    func invalidDescription() {
        let error = InvalidTransition(from: .cooking, event: .cancel)
        #expect(error.description == "cannot cancel an order that is cooking")
        #expect(InvalidTransition(from: .pickedUp, event: .pickup).description.contains("picked_up"))
    }
}
