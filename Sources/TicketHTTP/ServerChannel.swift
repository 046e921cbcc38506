import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1.1 as `.http1(configuration:)`, with a smaller first receive buffer per connection.
    ///
    /// NIO keeps each connection's last receive buffer for the next read, 2 KiB at first with
    /// its default allocator: with 10,000 long polls held that is 20 MB for requests of a few
    /// hundred bytes. This starts at 512 bytes; the allocator still grows the buffer (up to
    /// 64 KiB) for a connection whose reads fill it.
    public static func ticketdHTTP1(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            SmallReceiveBufferChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// HTTP/1.1 (`HTTP1Channel`) with the receive buffer allocator set before the channel reads.
/// Handles connections with `handleHTTP` directly, as `HTTP1Channel` does: a wrapper that
/// called `HTTP1Channel.handle` would add an async frame (a 1 KB task-allocator slab) to
/// every connection.
struct SmallReceiveBufferChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    var responder: HTTPChannelHandler.Responder { base.responder }

    static var receiveAllocator: AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let base = self.base
        return channel.setOption(ChannelOptions.recvAllocator, value: Self.receiveAllocator).flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}
