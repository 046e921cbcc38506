import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the connection's channel, so that a long
/// poll or SSE stream notices at once when its client goes away.
public struct TicketRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (in router tests, an inactive test channel).
    public let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }
}
