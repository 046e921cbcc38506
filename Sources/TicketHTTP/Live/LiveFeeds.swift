import ServiceLifecycle
import TicketCore
import TicketStore
import TicketWaiting

/// The live feeds of the pages: the public board (`GET /v1/board/events`), the kitchen's list
/// (`GET /v1/kitchen/events`), and the activity of the last 15 minutes that the board's typical
/// wait and the console's charts come from. One consumer of the store's change feed (every
/// commit's changes) marks both feeds changed and records the activity; each feed's producer
/// computes only while a stream watches it.
public final class LiveFeeds: Sendable {
    /// Numbers a board event lists per column at most (the column's count is always exact):
    /// the default `tickets.max_number` (999) never reaches it in practice, and no screen shows
    /// more numbers than this in a column legibly.
    static let boardListCap = 200
    /// Orders a kitchen event lists per status at most (the counts are exact).
    static let kitchenListCap = 200
    /// How often the live counts are sampled for the console's charts.
    static let sampleInterval: Duration = .seconds(10)

    let store: any OrderStore
    let activity: Activity
    let board: LiveFeed
    let kitchen: LiveFeed

    init(store: any OrderStore, writeKitchenOrder: @escaping @Sendable (Order, inout JSONWriter) -> Void) {
        self.store = store
        let activity = Activity()
        self.activity = activity
        let now: @Sendable () -> Timestamp = { store.now() }
        board = LiveFeed(name: "board", now: now, pacing: .board) {
            let board = try await store.boardSummary(limit: Self.boardListCap)
            return Self.boardContent(board, typicalWait: activity.typicalWait(now: store.now()))
        }
        kitchen = LiveFeed(name: "kitchen", now: now) {
            let counts = try await store.liveCounts()
            let queued = try await store.listOrders(status: .queued, limit: Self.kitchenListCap, after: nil)
            let cooking = try await store.listOrders(status: .cooking, limit: Self.kitchenListCap, after: nil)
            var w = JSONWriter(capacity: 4096)
            w.beginObject()
            w.key("queued")
            w.beginArray()
            // Claim order: rush first, then oldest (the store lists oldest first).
            for order in queued.filter({ $0.priority == .rush }) + queued.filter({ $0.priority != .rush }) {
                w.element()
                writeKitchenOrder(order, &w)
            }
            w.endArray()
            w.key("cooking")
            w.beginArray()
            for order in cooking {
                w.element()
                writeKitchenOrder(order, &w)
            }
            w.endArray()
            w.key("queued_count"); w.value(counts[.queued] ?? queued.count)
            w.key("cooking_count"); w.value(counts[.cooking] ?? cooking.count)
            w.endObject()
            return w.bytes
        }
    }

    /// `{"preparing":[…],"ready":[…],"preparing_count":N,"ready_count":M,"typical_wait_seconds":S}`.
    static func boardContent(_ board: BoardSummary, typicalWait: Double?) -> [UInt8] {
        var w = JSONWriter(capacity: 64 + 8 * (board.preparing.count + board.ready.count))
        w.beginObject()
        w.key("preparing"); w.beginArray(); for n in board.preparing { w.element(); w.value(n) }; w.endArray()
        w.key("ready"); w.beginArray(); for n in board.ready { w.element(); w.value(n) }; w.endArray()
        w.key("preparing_count"); w.value(board.preparingCount)
        w.key("ready_count"); w.value(board.readyCount)
        w.key("typical_wait_seconds"); w.value(typicalWait.map { Int($0.rounded()) })
        w.endObject()
        return w.bytes
    }

    /// A change the board's Ready column shows at once: a number called (ready), or one leaving
    /// it (collected, cancelled or expired; failed orders never were ready).
    static func callsOrClears(_ status: OrderStatus) -> Bool {
        switch status {
        case .ready, .pickedUp, .cancelled, .expired: return true
        case .queued, .cooking, .failed: return false
        }
    }

    /// Runs the feeds until `stop()` or until the change feed ends (shutdown).
    public func run() async {
        let commits = store.changes.commits()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await changes in commits {
                    self.activity.record(changes, now: self.store.now())
                    self.board.changed(urgent: changes.contains { Self.callsOrClears($0.status) })
                    self.kitchen.changed()
                }
                self.stop()   // the change feed ended: shutdown
            }
            group.addTask { await self.board.run() }
            group.addTask { await self.kitchen.run() }
            group.addTask {
                while !self.board.isEnded {
                    if let counts = try? await self.store.liveCounts() { self.activity.sample(counts, now: self.store.now()) }
                    _ = await self.board.trigger.wait(until: .now + Self.sampleInterval) { $0.ended ? () : nil }
                }
            }
            _ = await board.trigger.wait { $0.ended ? () : nil }
            group.cancelAll()
        }
    }

    /// Ends every board and kitchen stream, and `run()`.
    public func stop() {
        board.end()
        kitchen.end()
    }

    /// Streams open now (they count towards `max_waiters`).
    var streamCount: Int { board.watchers + kitchen.watchers }
}

/// Runs the HTTP server and the pages' live feeds as one service: the feeds end when the
/// daemon's shutdown ends the change feed (the lifecycle coordinator does, first of all), and
/// at the latest when the server's turn to stop comes, so that no stream keeps the server's
/// graceful shutdown waiting.
struct ServerWithLiveFeeds<Server: DrainingServer>: DrainingServer {
    let server: Server
    let feeds: LiveFeeds

    /// Shutdown began: the feeds' streams end (they never end by themselves) and the server
    /// stops taking connections, so that it can drain.
    func stopAccepting() {
        feeds.stop()
        server.stopAccepting()
    }

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await feeds.run() }
                do {
                    try await server.run()
                } catch {
                    feeds.stop()
                    throw error
                }
                feeds.stop()
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            feeds.stop()
        }
    }
}
