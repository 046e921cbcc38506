import NIOCore
import Synchronization

/// Noticing that a client connection went away, without a task waiting for it: a handler at the
/// head of the connection's pipeline calls back once, and the waiter it ends resumes.
///
/// Hummingbird enables remote half-closure on its connections, so a client that goes away only
/// closes the connection's input: the channel stays open (and `closeFuture` pending) until the
/// server writes. A watch therefore also looks for `ChannelEvent.inputClosed`, not only for the
/// channel going inactive. Start the watch before the waiter or stream counts as waiting (its
/// `register()`), so that a client that leaves once it waits is always noticed; a client whose
/// connection is closed already is reported at once.
enum ChannelClosure {
    /// Starts watching `channel`: `onClose` is called once, on the channel's event loop, when the
    /// client closes its side or the connection goes (at once if it has gone already), unless
    /// `stop()` comes first. The watch is in place when this returns.
    static func watch(_ channel: any Channel, onClose: @escaping @Sendable () -> Void) async -> Watch {
        let handler = InputClosedHandler(onClose)
        do {
            try await addFirst(handler, to: channel).get()
        } catch {
            handler.closed()   // the pipeline is gone: so is the connection
        }
        return Watch(channel: channel, handler: handler)
    }

    /// Adds `handler` at the head of the pipeline (the future-returning form, not the async one).
    private static func addFirst(_ handler: InputClosedHandler, to channel: any Channel) -> EventLoopFuture<Void> {
        channel.pipeline.addHandler(handler, position: .first)
    }

    /// One watch of one connection, for one waiter.
    struct Watch: Sendable {
        fileprivate let channel: any Channel
        fileprivate let handler: InputClosedHandler

        /// Removes the watch from the connection; `onClose` is not called after this returns
        /// (unless it runs already).
        func stop() {
            handler.disarm()
            channel.pipeline.removeHandler(handler, promise: nil)
        }
    }

    /// Calls back once when the client closes its side of the connection or it goes inactive
    /// (also when it is inactive already as it is added); passes every event on unchanged.
    final class InputClosedHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny
        private let onClose: Mutex<(@Sendable () -> Void)?>

        init(_ onClose: @escaping @Sendable () -> Void) { self.onClose = Mutex(onClose) }

        /// Calls back, the first time only.
        func closed() {
            onClose.withLock { c in defer { c = nil }; return c }?()
        }

        /// No call back from now on.
        func disarm() { onClose.withLock { $0 = nil } }

        func handlerAdded(context: ChannelHandlerContext) {
            if !context.channel.isActive { closed() }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed { closed() }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed()
            context.fireChannelInactive()
        }
    }
}
