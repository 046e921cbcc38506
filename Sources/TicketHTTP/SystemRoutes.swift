import Hummingbird
import TicketCore

/// Health, readiness, metrics and the OpenAPI document.
struct SystemRoutes: Sendable {
    let env: APIEnvironment

    /// The handlers of the system routes, by `operationId` (`APIRoutes.all` says where).
    var handlers: [String: APIRoutes.Handler] {
        [
            "healthz": { _, _ in Self.status("ok") },
            "readyz": { _, _ in
                guard self.env.state.isReady else {
                    throw Problem.unavailable(self.env.state.isStopping ? "ticketd is stopping" : "ticketd is starting", retryAfter: 1)
                }
                guard await self.env.store.isHealthy() else {
                    throw Problem.unavailable("the database does not answer", retryAfter: 1)
                }
                return Self.status("ready")
            },
            "metrics": { _, _ in try await self.metrics() },
            "openapi": { _, _ in
                Response(status: .ok, headers: [.contentType: "application/json"],
                         body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json(self.env.settings))))
            },
        ]
    }

    static func status(_ text: String) -> Response {
        var w = JSONWriter()
        w.beginObject()
        w.key("status"); w.value(text)
        w.endObject()
        return w.response()
    }

    func metrics() async throws -> Response {
        if let counts = try? await env.store.liveCounts() {
            for (status, gauge) in env.metrics.liveGauges { gauge.record(counts[status] ?? 0) }
        }
        env.metrics.openWaiters.record(env.changes.subscriberCount)
        let writes = env.store.statistics
        env.metrics.writerBatches.record(writes.commits)
        env.metrics.writerRequests.record(writes.writes)
        env.metrics.writerFailedBatches.record(writes.failedCommits)
        let text = env.registry.emitToBuffer()
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
    }
}
