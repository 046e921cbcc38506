import NIOCore
import Synchronization

/// Noticing that a client connection went away, in a way that cancellation ends at once
/// (`closeFuture.get()` alone would keep a task group waiting until the client leaves).
///
/// Hummingbird enables remote half-closure on its connections, so a client that goes away only
/// closes the connection's input: the channel stays open (and `closeFuture` pending) until the
/// server writes. A watch therefore also looks for `ChannelEvent.inputClosed`, with a handler at
/// the head of the pipeline. Start the watch before subscribing to changes, so that a client
/// that leaves once the request waits is always noticed.
enum ChannelClosure {
    /// Starts watching `channel`; the watch is in place when this returns. Call `stop()` when done.
    static func watch(_ channel: any Channel) async -> Watch {
        let watch = Watch(channel)
        try? await addFirst(watch.handler, to: channel).get()
        return watch
    }

    /// Adds `handler` at the head of the pipeline (the future-returning form, not the async one).
    private static func addFirst(_ handler: InputClosedHandler, to channel: any Channel) -> EventLoopFuture<Void> {
        channel.pipeline.addHandler(handler, position: .first)
    }

    /// One watch of one connection, for one waiter.
    final class Watch: Sendable {
        private let channel: any Channel
        private let once = ResumeOnce()
        fileprivate let handler: InputClosedHandler

        fileprivate init(_ channel: any Channel) {
            self.channel = channel
            handler = InputClosedHandler(once)
            let once = self.once
            channel.closeFuture.whenComplete { _ in once.resume() }
        }

        /// Returns when the client has gone (also if it went before the call) or the task is
        /// cancelled.
        func wait() async {
            let once = self.once
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    once.set(c)
                    if Task.isCancelled { once.resume() }
                }
            } onCancel: {
                once.resume()
            }
        }

        /// Removes the watch from the connection.
        func stop() {
            channel.pipeline.removeHandler(handler, promise: nil)
        }
    }

    /// Resumes the wait when the client closes its side of the connection (or it goes inactive);
    /// passes every event on unchanged.
    final class InputClosedHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
        typealias InboundIn = NIOAny
        private let once: ResumeOnce

        init(_ once: ResumeOnce) { self.once = once }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed { once.resume() }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            once.resume()
            context.fireChannelInactive()
        }
    }

    /// A continuation resumed at most once, whoever comes first; a resume before `set` is kept.
    final class ResumeOnce: Sendable {
        private let state = Mutex<(CheckedContinuation<Void, Never>?, Bool)>((nil, false))

        func set(_ c: CheckedContinuation<Void, Never>) {
            let resumeNow = state.withLock { s -> Bool in
                if s.1 { return true }
                s.0 = c
                return false
            }
            if resumeNow { c.resume() }
        }

        func resume() {
            let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
                guard !s.1 else { return nil }
                s.1 = true
                defer { s.0 = nil }
                return s.0
            }
            c?.resume()
        }
    }
}
