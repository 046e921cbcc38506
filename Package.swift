// swift-tools-version:6.1
import PackageDescription

/// One settings array for every target: Swift 6 language mode (strict concurrency) is the
/// tools-version default; warnings are kept at zero by CI.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "ticketd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ticketd", targets: ["ticketd"]),
        // For the ordo-one micro-benchmarks in Benchmarks/ (a separate package depending on this one).
        .library(name: "TicketStoreSQLite", targets: ["TicketStoreSQLite", "TicketStore", "TicketWaiting", "TicketCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        // Already resolved through Hummingbird; named for NIOHTTPTypes (the HTTP parts that the
        // connection guard's handler sees).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        // The PostgreSQL store (many nodes on one database).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Plain domain types: statuses, the lifecycle and what each transition does, ticket numbers
        // and ids, times, the ticket body, retry policy.
        .target(name: "TicketCore", swiftSettings: swiftSettings),
        // Waiting without threads: the one waiting primitive, the shared deadline timer, and the
        // change feed that long polls, SSE streams and cooks wait on.
        .target(name: "TicketWaiting", dependencies: ["TicketCore"], swiftSettings: swiftSettings),
        // The store interface: what HTTP, the kitchen and the daemon may ask of storage, its value
        // types and typed errors. Nothing of SQLite.
        .target(name: "TicketStore", dependencies: ["TicketCore", "TicketWaiting"], swiftSettings: swiftSettings),
        // The SQLite store (GRDB): the group-commit writer, named SQL, rows, the queue index, the
        // ticket cache, the instance lock, and its migrations. `migrations` is a symlink to the
        // repository's migrations/sqlite/, embedded into the binary at build time.
        .target(
            name: "TicketStoreSQLite",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for the statements each placement runs (DirectStatement).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("migrations")],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL store (postgres-nio), for many nodes on one database: the group-commit
        // writer over a connection pool, named SQL, LISTEN/NOTIFY between nodes, the sweeper's
        // advisory lock, and its migrations (`migrations` is a symlink to migrations/postgres/).
        .target(
            name: "TicketStorePostgres",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            resources: [.embedInCode("migrations")],
            swiftSettings: swiftSettings
        ),
        // Cooks, lease renewal, rescuer, expirer and pruner.
        .target(
            name: "TicketKitchen",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP server (its socket, connection limits), routes, problem+json, long poll and SSE,
        // the OpenAPI document, metrics, the pages and their live feeds.
        .target(
            name: "TicketHTTP",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            // `web` is a symlink to the repository's web/ (the pages), embedded at build time.
            resources: [.embedInCode("web")],
            swiftSettings: swiftSettings
        ),
        // Configuration, sd_notify, the ServiceGroup; chooses and opens the store.
        .target(
            name: "TicketDaemon",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore", "TicketStoreSQLite", "TicketStorePostgres", "TicketKitchen",
                "TicketHTTP",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ticketd",
            dependencies: [
                "TicketDaemon", "TicketStorePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // Store benchmark, run in release: `swift run -c release ticketd-bench`.
        .executableTarget(
            name: "ticketd-bench",
            dependencies: ["TicketCore", "TicketStore", "TicketStoreSQLite", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        // The system SQLite's C API, for the durable-route yardstick of ticketd-ceiling.
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // The framework's ceilings for scripts/bench: one trivial Hummingbird route, and the least
        // work a durable intake can do (one group-committed SQLite row per POST).
        .executableTarget(
            name: "ticketd-ceiling",
            dependencies: ["CSQLite", "TicketCore", .product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        // Helpers every test target shares: clocks, waiting with a deadline, temporary
        // directories, and the stores the contract suite runs against.
        .target(
            name: "TicketTestSupport",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore", "TicketStoreSQLite", "TicketStorePostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TicketTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "TicketCoreTests", dependencies: ["TicketCore", "TicketTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "TicketWaitingTests",
            dependencies: ["TicketCore", "TicketWaiting", "TicketTestSupport"],
            swiftSettings: swiftSettings
        ),
        // The store contract: one suite, run against every store (`StoreKind.allCases`).
        .testTarget(
            name: "TicketStoreContractTests",
            dependencies: ["TicketCore", "TicketWaiting", "TicketStore", "TicketTestSupport"],
            swiftSettings: swiftSettings
        ),
        // What only the SQLite store does or has: its writer, schema, pragmas, caches, files.
        .testTarget(
            name: "TicketStoreSQLiteTests",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore", "TicketStoreSQLite", "TicketTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // What only the PostgreSQL store does or has: several nodes on one database (notifications,
        // numbers, idempotency, claims, the sweeper's role), its schema, faults of the database.
        .testTarget(
            name: "TicketStorePostgresTests",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore", "TicketStorePostgres", "TicketTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TicketKitchenTests",
            dependencies: ["TicketCore", "TicketWaiting", "TicketStore", "TicketStoreSQLite", "TicketKitchen", "TicketTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TicketHTTPTests",
            dependencies: [
                "TicketCore", "TicketWaiting", "TicketStore", "TicketStoreSQLite", "TicketHTTP", "TicketTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TicketDaemonTests",
            dependencies: ["TicketDaemon", "TicketCore"],
            swiftSettings: swiftSettings
        ),
        // Starts the real `ticketd` binary on a free loopback port in a temp directory.
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["ticketd", "TicketTestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
