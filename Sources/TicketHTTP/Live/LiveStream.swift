import Hummingbird
import NIOCore
import Synchronization

/// One `text/event-stream` response of a `LiveFeed`: a `retry:` hint, the latest snapshot at
/// once (unless the client's `Last-Event-ID` is the current generation), then the latest again
/// whenever its generation moves on (generations the client was too slow for are skipped), a
/// comment line every `keepAliveSeconds` so that proxies keep the stream open, until shutdown,
/// the client's departure, or `event_stream_max_seconds` (then the client reconnects).
enum LiveStream {
    /// How long a client waits before reconnecting, sent as `retry:`.
    static let retryMilliseconds = 2000

    static func response(_ feed: LiveFeed, env: APIEnvironment, request: Request,
                         context: TicketRequestContext) async throws -> Response {
        try env.refuseWhenTooManyWaiters()
        let settings = env.settings
        let membership = Membership(feed: feed)
        let id = membership.id
        // Ends the stream's wait when the client goes away. Started before anything is sent, so
        // that a client that leaves once the stream waits is always noticed.
        var watch: ChannelClosure.Watch?
        if let channel = context.channel { watch = await ChannelClosure.watch(channel) { feed.clientGone(id) } }
        let clientWatch = watch
        let lastEventID = request.headers[.lastEventID].flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        let stopping = env.state.isStopping
        let keepAlive = Duration.milliseconds(Int64((settings.keepAliveSeconds * 1000).rounded()))
        let end: ContinuousClock.Instant? = settings.eventStreamMaxSeconds > 0
            ? .now + .milliseconds(Int64((settings.eventStreamMaxSeconds * 1000).rounded())) : nil
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            defer {
                clientWatch?.stop()
                membership.leave()
            }
            try await writer.write(ByteBuffer(string: "retry: \(retryMilliseconds)\n\n"))
            // A current Last-Event-ID: nothing until the next change (the generation moves on
            // only when the content does). Any other: the latest, at once.
            var sent: UInt64 = lastEventID ?? 0
            while true {
                var deadline = ContinuousClock.now + keepAlive
                if let end { deadline = min(deadline, end) }
                switch await feed.next(after: sent, stream: id, until: deadline) {
                case .send(let snapshot)?:
                    try await writer.write(snapshot.event)
                    sent = snapshot.generation
                    if stopping {
                        try await writer.finish(nil)
                        return
                    }
                case .ended?, .gone?:
                    try await writer.finish(nil)
                    return
                case nil:
                    if let end, ContinuousClock.now >= end {
                        try await writer.finish(nil)
                        return
                    }
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                }
            }
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// A stream's place among a feed's watchers, given up once: when the stream ends, or when its
/// body is dropped without running (the client went away before the answer was written).
final class Membership: Sendable {
    let feed: LiveFeed
    let id: UInt64
    private let left = Atomic<Bool>(false)

    init(feed: LiveFeed) {
        self.feed = feed
        id = feed.join()
    }

    func leave() {
        if !left.exchange(true, ordering: .relaxed) { feed.leave(id) }
    }

    deinit { leave() }
}
