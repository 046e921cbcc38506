import Testing
import TicketCore

/// The lifecycle of SPEC.md's diagram, written out by hand: every legal (status, event) pair with
/// the status it leads to and what it does to the order. Every pair not listed here must be refused.
private struct Expected: Sendable {
    var to: OrderStatus
    var effects: [Transition.Effect]
}

private struct Pair: Hashable, Sendable {
    var from: OrderStatus
    var event: OrderEvent
}

private let legalTransitions: [Pair: Expected] = [
    Pair(from: .queued, event: .claim): Expected(to: .cooking, effects: [.takeLease, .countAttempt, .stampCookingAt]),
    Pair(from: .queued, event: .cancel): Expected(to: .cancelled, effects: [.stampFinishedAt]),
    Pair(from: .queued, event: .operatorCancel): Expected(to: .cancelled, effects: [.stampFinishedAt]),
    Pair(from: .cooking, event: .done): Expected(to: .ready, effects: [.releaseLease, .stampReadyAt]),
    Pair(from: .cooking, event: .attemptFailed(attemptsLeft: true)): Expected(to: .queued, effects: [.releaseLease, .clearCookingAt]),
    Pair(from: .cooking, event: .attemptFailed(attemptsLeft: false)): Expected(to: .failed, effects: [.releaseLease, .stampFinishedAt]),
    Pair(from: .cooking, event: .handBack): Expected(to: .queued, effects: [.releaseLease, .clearCookingAt]),
    Pair(from: .cooking, event: .operatorCancel): Expected(to: .cancelled, effects: [.releaseLease, .stampFinishedAt]),
    Pair(from: .ready, event: .pickup): Expected(to: .pickedUp, effects: [.stampFinishedAt]),
    Pair(from: .ready, event: .expire): Expected(to: .expired, effects: [.stampFinishedAt]),
    Pair(from: .ready, event: .operatorCancel): Expected(to: .cancelled, effects: [.stampFinishedAt]),
    Pair(from: .failed, event: .operatorRequeue): Expected(to: .queued, effects: [.resetProgress]),
]

private let t0 = Timestamp(milliseconds: 1_795_590_000_000)

private func sample(_ status: OrderStatus) -> Order {
    let cooking = status == .cooking
    return Order(id: 7, ticket: "t", number: 3, status: status, priority: .normal, items: [OrderLine(item: "fries", quantity: 1)],
                 customer: nil, note: nil, version: 4, attempts: 2, maxAttempts: 3, lastError: status == .failed ? "e" : nil,
                 leaseOwner: cooking ? "cook-1" : nil, leaseExpiresAt: cooking ? t0.adding(seconds: 30) : nil, cookSeconds: 3,
                 availableAt: t0, createdAt: t0, cookingAt: status == .queued ? nil : t0,
                 readyAt: status == .ready ? t0 : nil, finishedAt: status.isFinal ? t0 : nil)
}

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
            #expect(transition.effects == expected.effects)
            #expect(transition.versionBump == 1)
            // finished_at is stamped exactly when the target is final; the lease ends with every
            // transition out of cooking.
            #expect(transition.effects.contains(.stampFinishedAt) == expected.to.isFinal)
            #expect(transition.effects.contains(.releaseLease) == (status == .cooking))
        } else {
            #expect(result == .failure(InvalidTransition(from: status, event: event)),
                    "\(event) from \(status) must be refused")
        }
    }

    @Test("applied(to:) writes each effect into the order, and inputs after the effects",
          arguments: Array(legalTransitions.keys))
    fileprivate func appliedOrder(pair: Pair) throws {
        guard case .success(let transition) = Lifecycle.apply(pair.event, to: pair.from) else {
            Issue.record("\(pair.event) from \(pair.from) is legal")
            return
        }
        let now = t0.adding(seconds: 60)
        let lease = Transition.Lease(token: "tok", owner: "grill", expiresAt: now.adding(seconds: 30))
        let before = sample(pair.from)
        let inputs = Transition.Inputs(lease: lease, lastError: "boom", availableAt: now.adding(seconds: 5))
        let after = transition.applied(to: before, at: now, inputs: inputs)
        #expect(after.status == transition.to)
        #expect(after.version == before.version + 1)
        let effects = Set(transition.effects)
        #expect(after.attempts == (effects.contains(.resetProgress) ? 0 : before.attempts + (effects.contains(.countAttempt) ? 1 : 0)))
        if effects.contains(.takeLease) {
            #expect(after.leaseOwner == "grill" && after.leaseExpiresAt == lease.expiresAt)
        } else if effects.contains(.releaseLease) {
            #expect(after.leaseOwner == nil && after.leaseExpiresAt == nil)
        } else {
            #expect(after.leaseOwner == before.leaseOwner && after.leaseExpiresAt == before.leaseExpiresAt)
        }
        let cookingAt = effects.contains(.stampCookingAt) ? now
            : (effects.contains(.clearCookingAt) || effects.contains(.resetProgress)) ? nil : before.cookingAt
        #expect(after.cookingAt == cookingAt)
        #expect(after.readyAt == (effects.contains(.stampReadyAt) ? now : effects.contains(.resetProgress) ? nil : before.readyAt))
        #expect(after.finishedAt == (effects.contains(.stampFinishedAt) ? now : effects.contains(.resetProgress) ? nil : before.finishedAt))
        #expect(after.lastError == "boom", "an input is applied after the effects (resetProgress clears, the input sets)")
        #expect(after.availableAt == now.adding(seconds: 5))
        // Columns no transition touches.
        #expect(after.id == before.id && after.ticket == before.ticket && after.number == before.number)
        #expect(after.items == before.items && after.maxAttempts == before.maxAttempts && after.createdAt == before.createdAt)
    }

    @Test("Lifecycle.claim is the claim of a queued order")
    func claimConstant() {
        #expect(Lifecycle.claim == (try? Lifecycle.apply(.claim, to: .queued).get()))
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
