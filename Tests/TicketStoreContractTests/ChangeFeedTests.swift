import Testing
import TicketCore
import TicketStore
import TicketWaiting
import TicketTestSupport

@Suite("Change feed: delivered after the commit, never before", .timeLimit(.minutes(1)))
struct ChangeFeedTests {
    @Test("a ticket subscription receives each new state after its transition commits", arguments: StoreKind.allCases)
    func ticketChanges(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            let other = try await store.place(order()).order
            let subscription = store.changes.subscribe(ticket: placed.ticket)
            #expect(store.changes.subscriberCount == 1)

            let received = Task { () -> [(Order, Order?)] in
                var out: [(Order, Order?)] = []
                // As an SSE stream reads it: a store shared by several nodes may deliver a state
                // again after catching up with a gap in the notifications (the current state of
                // every watched ticket, re-read); only newer versions count.
                var seen = placed.version
                for await change in subscription.changes where change.version > seen {
                    seen = change.version
                    // Delivered after the commit: a reader already sees it.
                    out.append((change, try? await store.order(id: change.id)))
                    if out.count == 3 { break }
                }
                return out
            }
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            #expect(claim.order.id == placed.id)
            _ = try await store.cancel(ticket: other.ticket)   // another ticket: not delivered here
            _ = try await store.markReady(orderID: placed.id, lease: claim.lease)
            _ = try await store.pickup(ticket: placed.ticket)

            let changes = try await withThrowingTaskGroup(of: [(Order, Order?)]?.self) { group in
                group.addTask { await received.value }
                group.addTask { try await Task.sleep(for: .seconds(20)); return nil }   // deadline
                let first = try await group.next() ?? nil
                group.cancelAll()
                return first
            }
            let got = try #require(changes, "three changes within the deadline")
            #expect(got.map(\.0.status) == [.cooking, .ready, .pickedUp])
            #expect(got.map(\.0.version) == [2, 3, 4])
            #expect(got.allSatisfy { $0.0.ticket == placed.ticket })
            for (change, read) in got {
                #expect((read?.version ?? 0) >= change.version, "change \(change.version) not yet visible to readers")
            }
            subscription.close()
            #expect(store.changes.subscriberCount == 0)
        }
    }

    @Test("closing a subscription, or finishing all, ends its stream")
    func subscriptionEnds() async throws {
        let notifier = ChangeFeed()
        let a = notifier.subscribe(ticket: "t1")
        let b = notifier.subscribe(ticket: "t1")
        let c = notifier.subscribe(ticket: "t2")
        #expect(notifier.subscriberCount == 3)
        a.close()
        #expect(notifier.subscriberCount == 2)
        #expect(await collect(a.changes, count: 1, timeout: .seconds(20)) == nil, "a closed stream ends, empty")
        notifier.finishAllSubscriptions()
        #expect(notifier.subscriberCount == 0)
        #expect(await collect(b.changes, count: 1, timeout: .seconds(20)) == nil)
        #expect(await collect(c.changes, count: 1, timeout: .seconds(20)) == nil)
    }

    @Test("waitForWork returns promptly after a placement", arguments: StoreKind.allCases)
    func workAfterPlacement(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let epoch = store.changes.workEpoch
            let start = ContinuousClock.now
            async let waited: Void = store.changes.waitForWork(after: epoch, until: .now + .seconds(15))
            _ = try await store.place(order())
            await waited
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect(store.changes.workEpoch != epoch)

            // A wait with a stale epoch returns at once.
            let again = ContinuousClock.now
            await store.changes.waitForWork(after: epoch, until: .now + .seconds(15))
            #expect(ContinuousClock.now - again < .seconds(10))
        }
    }

    @Test("a retried attempt is new work too", arguments: StoreKind.allCases)
    func workAfterRequeue(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let placed = try await store.place(order()).order
            try await waitUntil("the placement's signal") { store.changes.workEpoch > 0 }
            let claim = try #require(try await store.claimNext(cook: "c", leaseSeconds: 30))
            let epoch = store.changes.workEpoch
            let start = ContinuousClock.now
            async let waited: Void = store.changes.waitForWork(after: epoch, until: .now + .seconds(15))
            _ = try await store.failAttempt(orderID: placed.id, lease: claim.lease, error: "e", retry: true)
            await waited
            #expect(ContinuousClock.now - start < .seconds(10))
        }
    }

    @Test("a listener to every commit gets each commit's changes, in commit order", arguments: StoreKind.allCases)
    func everyCommit(kind: StoreKind) async throws {
        try await withStore(kind) { env in
            let store = env.store
            let commits = store.changes.commits()
            let a = try await store.place(order()).order
            let b = try await store.place(order()).order
            _ = try await store.cancel(ticket: a.ticket)
            let seen = try #require(await collect(commits, count: 3))
            #expect(seen.map { $0.map(\.id) } == [[a.id], [b.id], [a.id]])
            #expect(seen.last?.first?.status == .cancelled)
        }
    }
}
