import Testing
import TicketCore
import TicketKitchen
import TicketStore
import TicketTestSupport

/// `kitchen.orders_per_cook`: one cook takes several orders and cooks them side by side, each
/// under its own lease; with 1 it cooks one at a time. The kitchen claims for all its idle cooks
/// at once.
@Suite("Orders per cook", .timeLimit(.minutes(1)))
struct OrdersPerCookTests {
    @Test("one cook with orders_per_cook 3 cooks three orders at once, each with its own lease, and all end ready")
    func sideBySide() async throws {
        try await withKitchen(kitchen: KitchenSettings(cooks: 1, ordersPerCook: 3), startKitchen: false) { env in
            var placed: [Order] = []
            for _ in 0..<4 { placed.append(try await env.place(cookSeconds: 1)) }
            try await env.startKitchen()
            // The first three are claimed together: all cooking while the fourth waits.
            for order in placed.prefix(3) { try await env.waitForStatus(order.id, .cooking) }
            #expect(try await env.order(placed[3].id).status == .queued)
            let leases = try await placed.prefix(3).asyncMap { try await env.store.order(id: $0.id)?.leaseOwner }
            #expect(leases.allSatisfy { $0 == "cook-1" })
            try await waitUntil("three orders cooking side by side") { env.kitchen.busyCooks == 3 }
            for order in placed {
                let ready = try await env.waitForStatus(order.id, .ready)
                #expect(ready.attempts == 1)
                #expect(try await env.events(order.id).map(\.to) == [.queued, .cooking, .ready])
            }
        }
    }

    @Test("the idle cooks are claimed for together: one claim and one ready write for eight cooks, each order named by its cook")
    func idleCooksTogether() async throws {
        try await withKitchen(kitchen: KitchenSettings(cooks: 8), startKitchen: false) { env in
            var placed: [Order] = []
            for _ in 0..<20 { placed.append(try await env.place(cookSeconds: 0)) }
            let batchesBefore = env.store.statistics.writes
            try await env.startKitchen()
            var cooks: Set<String> = []
            for order in placed {
                let ready = try await env.waitForStatus(order.id, .ready)
                #expect(ready.attempts == 1)
                let events = try await env.events(order.id)
                #expect(events.map(\.to) == [.queued, .cooking, .ready])
                let claimedBy = events[1].detail?.split(separator: " ").dropFirst(2).first.map(String.init)
                #expect(events.last?.detail == "cooked by \(claimedBy ?? "?")")
                if let claimedBy { cooks.insert(claimedBy) }
            }
            #expect(cooks == Set((1...8).map { "cook-\($0)" }), "claimed by \(cooks.sorted())")
            // 20 orders, 8 cooks: 3 claims and 3 ready writes (a claim per cook would take 20 and
            // 20), give or take idle claims.
            let writes = env.store.statistics.writes - batchesBefore
            #expect(writes < 20, "\(writes) writes for 20 orders")
        }
    }

    @Test("orders that need no cooking time are claimed together and all made ready in one write")
    func instantOrdersTogether() async throws {
        try await withKitchen(kitchen: KitchenSettings(cooks: 1, ordersPerCook: 8), startKitchen: false) { env in
            var placed: [Order] = []
            for _ in 0..<20 { placed.append(try await env.place(cookSeconds: 0)) }
            let batchesBefore = env.store.statistics.writes
            try await env.startKitchen()
            for order in placed {
                let ready = try await env.waitForStatus(order.id, .ready)
                #expect(ready.attempts == 1 && ready.leaseOwner == nil)
                let events = try await env.events(order.id)
                #expect(events.map(\.to) == [.queued, .cooking, .ready])
                #expect(events.last?.detail == "cooked by cook-1")
            }
            // 20 orders, 8 a claim: 3 claims and 3 ready writes (not 20), give or take idle claims.
            let writes = env.store.statistics.writes - batchesBefore
            #expect(writes < 20, "\(writes) writes for 20 orders")
        }
    }

    @Test("with orders_per_cook 1 (the default) a cook takes one order at a time")
    func oneAtATime() async throws {
        #expect(KitchenSettings().ordersPerCook == 1)
        try await withKitchen(kitchen: KitchenSettings(cooks: 1), startKitchen: false) { env in
            let first = try await env.place(cookSeconds: 1)
            let second = try await env.place(cookSeconds: 1)
            try await env.startKitchen()
            try await env.waitForStatus(first.id, .cooking)
            #expect(try await env.order(second.id).status == .queued)
            try await env.waitForStatus(second.id, .ready)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
