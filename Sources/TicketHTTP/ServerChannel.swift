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

/// A server child channel that sets the receive buffer allocator, then sets up `base`.
struct SmallReceiveBufferChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

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
        await base.handle(value: value, logger: logger)
    }
}
