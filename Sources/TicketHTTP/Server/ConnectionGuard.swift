import CoreMetrics
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// What one connection may cost the daemon: how long it may sit idle, how long a client may
/// take to send one request, and how many connections may be open at once.
public struct ConnectionLimits: Sendable, Equatable {
    public var idleTimeoutSeconds: Double
    public var requestReadTimeoutSeconds: Double
    public var maxConnections: Int

    public init(idleTimeoutSeconds: Double, requestReadTimeoutSeconds: Double, maxConnections: Int) {
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.requestReadTimeoutSeconds = requestReadTimeoutSeconds
        self.maxConnections = maxConnections
    }

    static func amount(_ seconds: Double) -> TimeAmount { .nanoseconds(Int64((seconds * 1e9).rounded())) }
}

/// The open connections, for `max_connections`, and the metrics that show them.
final class ConnectionCount: Sendable {
    private let open = Atomic<Int>(0)
    private let openGauge: CoreMetrics.Gauge
    private let refusedCounter: CoreMetrics.Counter
    private let timedOutCounter: CoreMetrics.Counter

    init(factory: any MetricsFactory) {
        openGauge = CoreMetrics.Gauge(label: "ticketd_open_connections", factory: factory)
        refusedCounter = CoreMetrics.Counter(label: "ticketd_connections_refused_total", factory: factory)
        timedOutCounter = CoreMetrics.Counter(label: "ticketd_request_read_timeouts_total", factory: factory)
    }

    /// Counts a new connection; returns how many are open with it.
    func opened() -> Int {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        openGauge.record(now)
        return now
    }

    func closed() {
        openGauge.record(open.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    func refused() { refusedCounter.increment() }
    func timedOut() { timedOutCounter.increment() }
}

/// Hummingbird's HTTP/1 server with ticketd's connection limits around it:
///
/// - the idle timeout is Hummingbird's own (`HTTP1Channel.Configuration.idleTimeout`): it closes
///   a connection on which nothing was read for that long while no request is being answered,
///   and never one whose request has been read and waits on the server (long polls, SSE);
/// - the request read timeout (slow-loris) is ours: Hummingbird has none, and its idle timer
///   is reset by every body part, so a client trickling a body would hold its connection forever;
/// - the connection limit answers a connection beyond it with 503 problem+json and closes it.
///   Hummingbird's `MaximumAvailableConnections` only stops accepting, which leaves clients
///   hanging in the listen backlog with no answer.
///
/// Each connection's first receive buffer is 512 bytes (NIO's default keeps 2 KiB per
/// connection: 20 MB for 10,000 open long polls); it still grows for a connection whose reads
/// fill it. Connections are served with `handleHTTP` directly, as `HTTP1Channel` does: calling
/// through `HTTP1Channel.handle` would add an async frame (a 1 KB task-allocator slab) to each.
struct GuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder

    static var receiveAllocator: AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
    }
    private let limits: ConnectionLimits
    private let count: ConnectionCount
    private let base: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, limits: ConnectionLimits, count: ConnectionCount) {
        self.responder = responder
        self.limits = limits
        self.count = count
        base = HTTP1Channel(responder: responder,
                            configuration: .init(idleTimeout: ConnectionLimits.amount(limits.idleTimeoutSeconds)))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.setOption(ChannelOptions.recvAllocator, value: Self.receiveAllocator).flatMap {
            self.setupGuarded(channel: channel, logger: logger)
        }
    }

    private func setupGuarded(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let count = self.count
        let open = count.opened()
        channel.closeFuture.whenComplete { _ in count.closed() }
        let loop = channel.eventLoop
        if open > limits.maxConnections {
            count.refused()
            let max = limits.maxConnections
            return loop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ConnectionRefusal(maxConnections: max), position: .first)
            }.flatMap { base.setup(channel: channel, logger: logger) }
        }
        let timeout = ConnectionLimits.amount(limits.requestReadTimeoutSeconds)
        let responder = self.responder
        let idle = ConnectionLimits.amount(limits.idleTimeoutSeconds)
        return loop.makeCompletedFuture { () -> NIOLoopBound<RequestReadDeadline> in
            let deadline = RequestReadDeadline(timeout: timeout, count: count)
            try channel.pipeline.syncOperations.addHandler(RequestBytesHandler(deadline), position: .first)
            return NIOLoopBound(deadline, eventLoop: loop)
        }.flatMap { bound in
            HTTP1Channel(responder: responder,
                         configuration: .init(additionalChannelHandlers: [RequestPartsHandler(bound.value)], idleTimeout: idle))
                .setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

/// One connection's request read deadline: armed by the first byte of a request, disarmed when
/// the request's end has been decoded. When it passes, the client gets 408 problem+json (if its
/// request head never arrived whole) and the connection is closed.
///
/// Bytes that arrive while a request is being answered (a pipelined request) do not arm it;
/// such a connection is left to the idle timeout.
final class RequestReadDeadline {
    private let timeout: TimeAmount
    private let count: ConnectionCount
    private var context: ChannelHandlerContext?
    private var scheduled: Scheduled<Void>?
    private var reading = false
    private var readStarted = NIODeadline.uptimeNanoseconds(0)
    private var headRead = false
    private var requestsRead = 0
    private var responsesWritten = 0
    private var bytesSeen = false
    /// Shutdown asked this connection to close (`ChannelShouldQuiesceEvent`) while it had a
    /// request coming or in progress: it is closed once that request is answered.
    private var quiescePending = false
    private var quiesceFallback: Scheduled<Void>?
    /// When the connection was set up (accepted).
    private let acceptedAt = NIODeadline.now()
    /// How long after it was accepted a connection may take to send its first byte when shutdown
    /// comes before it: Go's `http.Server.Shutdown` counts a new connection as idle only after
    /// 5 s without a request. CI saw 1 s from the shutdown (the rule before) run out on a loaded
    /// machine, where a client's thread stalled between `connect` and `send`: its request then
    /// met a closed connection, and the client a reset.
    static let firstRequestGrace = TimeAmount.seconds(5)

    init(timeout: TimeAmount, count: ConnectionCount) {
        self.timeout = timeout
        self.count = count
    }

    func attach(_ context: ChannelHandlerContext) { self.context = context }

    func detach() {
        scheduled?.cancel()
        scheduled = nil
        quiesceFallback?.cancel()
        quiesceFallback = nil
        context = nil
    }

    /// Shutdown asks the connection to close (the server stopped accepting). Hummingbird closes
    /// a connection at once unless a request is being answered, but a connection accepted just
    /// before, whose request is still in the socket or half read, is not idle: closing it then
    /// resets the client. So the event is passed on now only for a connection that has
    /// answered requests and has nothing coming; otherwise it waits for the request under way
    /// (or, for a new connection, its first byte within `firstRequestGrace` of its acceptance)
    /// to be answered. Returns whether to pass the event on now.
    func quiesceRequested() -> Bool {
        let busy = reading || requestsRead > responsesWritten
        if !busy && bytesSeen { return true }
        let firstByteDeadline = acceptedAt + Self.firstRequestGrace
        if !bytesSeen && firstByteDeadline <= .now() { return true }
        quiescePending = true
        if !bytesSeen, let context {
            quiesceFallback = context.eventLoop.assumeIsolated().scheduleTask(deadline: firstByteDeadline) { [weak self] in
                guard let self, !self.bytesSeen else { return }
                self.forwardQuiesce()
            }
        }
        return false
    }

    /// A quiesce waits for an answer to be written. Only then does the end of an answer need
    /// watching: a quiesce that comes later, with nothing else coming, is passed on at once
    /// (`quiesceRequested`), and one that comes while another request is under way waits for
    /// that request's own answer.
    var holdsQuiesce: Bool { quiescePending }

    /// The answer to the request under way has been written: a held quiesce goes on (and the
    /// idle connection closes).
    func responseWritten() {
        guard quiescePending, !reading, requestsRead <= responsesWritten else { return }
        forwardQuiesce()
    }

    private func forwardQuiesce() {
        quiescePending = false
        quiesceFallback?.cancel()
        quiesceFallback = nil
        guard let context else { return }
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    /// The first bytes of a request: the clock starts. The timer itself is only armed at the end
    /// of the read if the request is still incomplete then (`readComplete`); a request that
    /// arrives whole in one read, nearly all of them, never schedules one.
    func bytesArrived() {
        bytesSeen = true
        guard !reading, requestsRead <= responsesWritten, context != nil else { return }
        reading = true
        readStarted = .now()
    }

    /// The end of a read from the socket: arms the timer for a request still being read.
    func readComplete() {
        guard reading, scheduled == nil, let context else { return }
        scheduled = context.eventLoop.assumeIsolated().scheduleTask(deadline: readStarted + timeout) { [weak self] in
            self?.expired()
        }
    }

    func headArrived() { headRead = true }

    func endArrived() {
        reading = false
        headRead = false
        requestsRead += 1
        scheduled?.cancel()
        scheduled = nil
    }

    func responseEnded() { responsesWritten += 1 }

    private func expired() {
        scheduled = nil
        guard reading, let context else { return }
        count.timedOut()
        if !headRead {
            let body = #"{"type":"urn:ticketd:problem:request-timeout","title":"Request timeout","status":408,"#
                + #""detail":"the request did not arrive whole within request_read_timeout_seconds"}"#
            let head = "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
                + "connection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n"
            context.writeAndFlush(NIOAny(ByteBuffer(string: head + body)), promise: nil)
        }
        context.close(promise: nil)
    }
}

/// At the head of the pipeline: sees the raw bytes, so it knows when a request has begun even
/// while its head is still incomplete (the HTTP decoder emits nothing until the head is whole).
final class RequestBytesHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let deadline: RequestReadDeadline

    init(_ deadline: RequestReadDeadline) { self.deadline = deadline }

    func handlerAdded(context: ChannelHandlerContext) { deadline.attach(context) }
    func handlerRemoved(context: ChannelHandlerContext) { deadline.detach() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadline.bytesArrived()
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deadline.readComplete()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline.detach()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, !deadline.quiesceRequested() { return }
        context.fireUserInboundEventTriggered(event)
    }
}

/// After the HTTP codec: sees where each request ends and each response ends.
final class RequestPartsHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    private let deadline: RequestReadDeadline

    init(_ deadline: RequestReadDeadline) { self.deadline = deadline }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: deadline.headArrived()
        case .body: break
        case .end: deadline.endArrived()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        deadline.responseEnded()
        // Once the answer is written, a quiesce held for it goes on. Without one held, no
        // promise and callback per answer (every request's).
        guard deadline.holdsQuiesce else {
            context.write(data, promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise()
        let bound = NIOLoopBound(deadline, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in bound.value.responseWritten() }
        context.write(data, promise: written)
    }
}

/// Answers a connection beyond `max_connections`: 503 problem+json with `Retry-After`, then
/// closes. It closes its side first and reads (and drops) what the client still sends for up to
/// a second before closing for good: closing with unread input makes the kernel send a reset,
/// which can destroy the answer before the client has read it. Nothing reaches the HTTP handlers.
final class ConnectionRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let maxConnections: Int
    private var answered = false
    private var closing: Scheduled<Void>?

    init(maxConnections: Int) { self.maxConnections = maxConnections }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // dropped: the connection is refused
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closing?.cancel()
        closing = nil
        context.fireChannelInactive()
    }

    private func refuse(_ context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        let body = #"{"type":"urn:ticketd:problem:unavailable","title":"Service unavailable","status":503,"#
            + #""detail":"too many connections are open (max_connections: \#(maxConnections)); try again shortly"}"#
        let head = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\n"
            + "connection: close\r\ncontent-length: \(body.utf8.count)\r\n\r\n"
        context.writeAndFlush(NIOAny(ByteBuffer(string: head + body)), promise: nil)
        context.close(mode: .output, promise: nil)
        closing = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
    }
}
