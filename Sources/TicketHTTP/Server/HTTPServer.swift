import CoreMetrics
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The HTTP server: Hummingbird's router and HTTP/1 channel on a socket made before the server
/// starts (`ListeningSocket`: bound at start, or handed over by systemd), with ticketd's
/// connection limits (`GuardedHTTP1Channel`).
///
/// Why not Hummingbird's `Application`: it binds its own socket inside its `run()`, after every
/// other part of the daemon has started, and cannot take a socket that systemd holds. Here the
/// socket comes first, so a taken port stops the daemon before the database is opened, and a
/// restart under socket activation refuses no connection. What `Application` adds around the
/// router (a `Date` header, the request context, the response write) is done here the same way.
///
/// Graceful shutdown stops accepting, lets every connection finish the request it is answering
/// (idle keep-alive connections are closed), and returns once all are closed.
///
/// The responder is the API's own type, not any `HTTPResponder`: a generic one is called through
/// its protocol witness, one more async frame that every waiting long poll keeps (1 KB each).
public final class HTTPServer: DrainingServer, Sendable {
    private let socket: ListeningSocket
    private let responder: APIResponder
    private let limits: ConnectionLimits
    private let connections: ConnectionCount
    private let logger: Logger
    private let onRunning: @Sendable (String) async -> Void
    private let date = HTTPDate()
    /// Set once connections are accepted; `stopAccepting()` before that stops at once.
    private let draining = Mutex<Draining>(Draining())

    private struct Draining {
        var quiescing: ServerQuiescingHelper?
        var listener: (any Channel)?
        var stopRequested = false
        var stopped = false
    }

    /// - Parameters:
    ///   - onRunning: called with the address once connections are being accepted.
    public init(socket: ListeningSocket, responder: APIResponder, limits: ConnectionLimits, metrics: any MetricsFactory,
                logger: Logger, onRunning: @escaping @Sendable (String) async -> Void = { _ in }) {
        self.socket = socket
        self.responder = responder
        self.limits = limits
        self.connections = ConnectionCount(factory: metrics)
        self.logger = logger
        self.onRunning = onRunning
    }

    public func run() async throws {
        let childChannel = GuardedHTTP1Channel(responder: respond, limits: limits, count: connections)
        let group = MultiThreadedEventLoopGroup.singleton
        let quiescing = ServerQuiescingHelper(group: group)
        let logger = self.logger
        let server: NIOAsyncChannel<GuardedHTTP1Channel.Value, Never>
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .bind(socket.descriptor) { channel in childChannel.setup(channel: channel, logger: logger) }
        } catch {
            socket.closeUnused()
            throw error
        }
        let stopAtOnce = draining.withLock { d -> Bool in
            d.quiescing = quiescing
            d.listener = server.channel
            return d.stopRequested
        }
        if stopAtOnce { stopAccepting() }
        await withDiscardingTaskGroup { tasks in
            await withGracefulShutdownHandler {
                await onRunning(socket.address)
                do {
                    try await server.executeThenClose { inbound in
                        for try await connection in inbound {
                            tasks.addTask { await childChannel.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("the listening socket failed", metadata: ["error": "\(error)"])
                }
            } onGracefulShutdown: {
                self.stopAccepting()
            }
        }
        // Every connection has closed. If accepting stopped before this service's own turn in
        // the shutdown order (the daemon stops taking connections the moment shutdown begins),
        // wait for that turn: a service that returns early is taken for a failed one.
        try? await gracefulShutdown()
    }

    /// Stops accepting connections now: closes this process's listening socket (ending the
    /// accept loop) and asks each open connection to close once the request it is answering is
    /// done; requests already accepted are answered in full. Under socket activation the socket
    /// itself stays open in systemd, so connections made from now on wait in its backlog for the
    /// next process. `run()` returns once every connection has closed. Safe to call more than
    /// once, and before `run()`.
    public func stopAccepting() {
        let taken = draining.withLock { d -> (ServerQuiescingHelper, any Channel)? in
            d.stopRequested = true
            guard let q = d.quiescing, let listener = d.listener, !d.stopped else { return nil }
            d.stopped = true
            return (q, listener)
        }
        guard let (quiescing, listener) = taken else { return }
        // First no more accept() calls. Connections accepted just before are still being set up on
        // their event loops; once that is done they are in the accept loop, and only then is this
        // process's socket closed (a connection set up after the close would be dropped).
        let group = MultiThreadedEventLoopGroup.singleton
        listener.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
            Self.settle(group, rounds: 3).whenComplete { _ in quiescing.initiateShutdown(promise: nil) }
        }
    }

    /// Completes once every event loop of `group` has run a task `rounds` times over: what was
    /// scheduled on them before (a connection's set-up, its hand-over to the accept loop) is done.
    private static func settle(_ group: MultiThreadedEventLoopGroup, rounds: Int) -> EventLoopFuture<Void> {
        let loops = Array(group.makeIterator())
        guard let first = loops.first else { return group.next().makeSucceededVoidFuture() }
        var future = first.makeSucceededVoidFuture()
        for _ in 0..<rounds {
            future = future.flatMap { EventLoopFuture.andAllSucceed(loops.map { $0.submit {} }, on: first) }
        }
        return future
    }

    /// One request: the API's answer (every error already answered as problem+json) with a
    /// `Date` header, written to the connection.
    @Sendable private func respond(_ request: Request, _ writer: consuming ResponseWriter, _ channel: any Channel) async throws {
        let context = TicketRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
        var response = await responder.answer(request, context: context)
        response.headers[.date] = date.current
        try await writer.write(response: response.head, body: response.body)
    }
}

/// A server whose accepting can be stopped before its own turn in the shutdown order: the daemon
/// stops taking connections the moment shutdown begins, then lets the answers in progress finish.
public protocol DrainingServer: Service {
    func stopAccepting()
}
