import CoreMetrics
import Prometheus
import Synchronization
import TicketCore
import TicketStore
import TicketWaiting

/// Settings of the HTTP side that configuration sets and SIGHUP may change.
public struct APISettings: Sendable, Equatable {
    public var menu: Menu
    public var longPollMaxSeconds: Double
    public var maxBodyBytes: Int
    /// The operator token; nil means the operator and kitchen APIs are disabled (403).
    public var adminToken: String?
    /// In-process cooks, for estimates (0 counts as 1: external cooks).
    public var cooks: Int
    /// Long polls and SSE streams open at once; more are refused with 503 and Retry-After.
    public var maxWaiters: Int
    /// The board's and the kitchen's event streams end after this many seconds (0: never);
    /// clients reconnect by themselves.
    public var eventStreamMaxSeconds: Double
    /// A comment line is sent on an idle board or kitchen stream this often.
    public var keepAliveSeconds: Double

    public init(menu: Menu, longPollMaxSeconds: Double = 60, maxBodyBytes: Int = 64 * 1024,
                adminToken: String? = nil, cooks: Int = 4, maxWaiters: Int = 12_000,
                eventStreamMaxSeconds: Double = 0, keepAliveSeconds: Double = 15) {
        self.maxWaiters = maxWaiters
        self.eventStreamMaxSeconds = eventStreamMaxSeconds
        self.keepAliveSeconds = keepAliveSeconds
        self.menu = menu
        self.longPollMaxSeconds = longPollMaxSeconds
        self.maxBodyBytes = maxBodyBytes
        self.adminToken = adminToken
        self.cooks = cooks
    }
}

/// Whether the daemon takes orders and reports ready; the daemon moves it.
public final class ServiceState: Sendable {
    private struct State {
        var ready = false
        var stopping = false
    }

    private let state = Mutex(State())
    public init() {}

    /// Database open and migrated, services running: /readyz answers 200.
    public var isReady: Bool { state.withLock { $0.ready && !$0.stopping } }
    public var isStopping: Bool { state.withLock { $0.stopping } }

    public func markReady() { state.withLock { $0.ready = true } }
    /// Shutdown began: report not ready; waits end (long polls, kitchen claims). Requests
    /// already taken are still answered in full (the server stops taking connections).
    public func markStopping() { state.withLock { $0.stopping = true } }
}

/// What the routes need: the store, settings, estimates, state and metrics.
public final class APIEnvironment: Sendable {
    public let store: any OrderStore
    public let estimator: CookTimeEstimator
    public let state: ServiceState
    public let registry: PrometheusCollectorRegistry
    public let metrics: APIMetrics
    /// The pages' live feeds (board, kitchen) and the recent activity; run by the server.
    public let live: LiveFeeds
    private let settingsBox: Mutex<APISettings>

    /// - Parameter registry: the daemon's metrics registry, which `/metrics` renders (the kitchen
    ///   writes into it too).
    public init(store: any OrderStore, settings: APISettings, estimator: CookTimeEstimator = CookTimeEstimator(),
                state: ServiceState = ServiceState(), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.store = store
        self.estimator = estimator
        self.state = state
        self.registry = registry
        self.metrics = APIMetrics(registry: registry)
        self.settingsBox = Mutex(settings)
        self.live = LiveFeeds(store: store, writeKitchenOrder: { order, w in
            OperatorView.write(order, to: &w)
        })
    }

    public var settings: APISettings { settingsBox.withLock { $0 } }

    /// Replaces the settings (SIGHUP reload).
    public func update(settings: APISettings) { settingsBox.withLock { $0 = settings } }

    /// A swift-metrics factory writing into the registry (the HTTP server's connection counters).
    var metricsFactory: any MetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// The store's change feed (long polls, SSE streams, kitchen claims wait on it).
    var changes: ChangeFeed { store.changes }

    /// Bounds the memory held by waiting clients (`max_waiters`): long polls, ticket streams,
    /// board and kitchen streams.
    func refuseWhenTooManyWaiters() throws {
        let cap = settings.maxWaiters
        if changes.subscriberCount + live.streamCount >= cap {
            throw Problem.unavailable("\(cap) long polls and event streams are open already (max_waiters); try again shortly",
                                      retryAfter: 1)
        }
    }
}

/// The HTTP side's metrics, all named `ticketd_…`.
public final class APIMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let ordersPlaced: CoreMetrics.Counter
    let ordersReplayed: CoreMetrics.Counter
    let liveGauges: [OrderStatus: CoreMetrics.Gauge]
    let openWaiters: CoreMetrics.Gauge
    /// The group-commit writer's commits and the writes they carried (their ratio is the mean
    /// batch size), and failed commits.
    let writerBatches: CoreMetrics.Gauge
    let writerRequests: CoreMetrics.Gauge
    let writerFailedBatches: CoreMetrics.Gauge
    private let requestMetrics = Mutex<[String: (CoreMetrics.Counter, CoreMetrics.Timer)]>([:])
    private let factory: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        ordersPlaced = CoreMetrics.Counter(label: "ticketd_orders_placed_total", factory: factory)
        ordersReplayed = CoreMetrics.Counter(label: "ticketd_orders_replayed_total", factory: factory)
        var gauges: [OrderStatus: CoreMetrics.Gauge] = [:]
        for s in OrderStatus.live {
            gauges[s] = CoreMetrics.Gauge(label: "ticketd_orders", dimensions: [("status", s.rawValue)], factory: factory)
        }
        liveGauges = gauges
        openWaiters = CoreMetrics.Gauge(label: "ticketd_open_waiters", factory: factory)
        writerBatches = CoreMetrics.Gauge(label: "ticketd_writer_commits", factory: factory)
        writerRequests = CoreMetrics.Gauge(label: "ticketd_writer_writes", factory: factory)
        writerFailedBatches = CoreMetrics.Gauge(label: "ticketd_writer_failed_commits", factory: factory)
    }

    /// The counter and latency timer of one (route, method, status).
    func request(route: String, method: String, status: Int) -> (CoreMetrics.Counter, CoreMetrics.Timer) {
        let key = "\(method) \(route) \(status)"
        if let m = requestMetrics.withLock({ $0[key] }) { return m }
        let dims = [("route", route), ("method", method), ("status", String(status))]
        let m = (CoreMetrics.Counter(label: "ticketd_http_requests_total", dimensions: dims, factory: factory),
                 CoreMetrics.Timer(label: "ticketd_http_request_duration_seconds",
                       dimensions: [("route", route), ("method", method)], preferredDisplayUnit: .seconds, factory: factory))
        requestMetrics.withLock { $0[key] = m }
        return m
    }
}
