// swift-tools-version:6.1
// Store micro-benchmarks of ticketd with ordo-one/benchmark, in a package of their own so the
// main package (and CI) never builds the benchmark plugin. Run from the repository root:
//   swift package --package-path Benchmarks benchmark
// scripts/bench runs them as its last step.
import PackageDescription

let package = Package(
    name: "TicketdBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The main package, by path; `name:` keeps the product reference independent of the
        // directory the repository is cloned into.
        .package(name: "ticketd", path: ".."),
        // Its default trait needs a repository that is not mirrored here: MallocInterposer only.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "StoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TicketStoreSQLite", package: "ticketd"),
            ],
            path: "Benchmarks/StoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
