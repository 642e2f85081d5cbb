// swift-tools-version:6.0
import PackageDescription

// The layers, lowest first. A target depends only on targets before it, and the compiler refuses
// an import of one it does not list (LayerTests also reads every `import` line against this order):
//
//   HandoffSupport   JSON, files, journals, clocks, parallel map, random streams, slabs, heaps
//   HandoffModel     traces, the scenario schema, the GPU/model catalogue, policies, segments
//   HandoffSim       the discrete-event simulator and its serving model
//   HandoffAnalysis  metrics, the tuner (sweep, tune, capacity), reports
//   HandoffEngine    the real engine: HTTP client, record, calibrate, validate; links libcurl
//   Handoff          re-exports the five; the `handoff` CLI sits on top
//
// Only HandoffSim, the hot path, is built with -Ounchecked in release. Parsers, the tuner and the
// network code keep Swift's bounds and overflow checks.
let package = Package(
    name: "Handoff",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Handoff", targets: ["Handoff"]),
        .executable(name: "handoff", targets: ["handoff"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(name: "CGSL", pkgConfig: "gsl", providers: [.apt(["libgsl-dev"])]),
        // libcurl (OpenSSL): the engine client's one HTTP stack, http:// and https:// (HTTPClient.swift).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "HandoffSupport", dependencies: ["CGSL"]),
        .target(
            name: "HandoffModel",
            dependencies: ["HandoffSupport", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "HandoffSim",
            dependencies: ["HandoffSupport", "HandoffModel"],
            swiftSettings: [
                .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
                // The self-checks (InternalCheck.swift, *+Invariants.swift), compiled into debug builds only.
                .define("HANDOFF_INTERNAL_CHECKS", .when(configuration: .debug)),
            ]
        ),
        .target(name: "HandoffAnalysis", dependencies: ["HandoffSupport", "HandoffModel", "HandoffSim"]),
        .target(
            name: "HandoffEngine",
            dependencies: ["CCurl", "HandoffSupport", "HandoffModel", "HandoffSim", "HandoffAnalysis"]
        ),
        .target(
            name: "Handoff",
            dependencies: ["HandoffSupport", "HandoffModel", "HandoffSim", "HandoffAnalysis", "HandoffEngine"]
        ),
        // The executables name the layers they use beside the umbrella: an incremental release build
        // then relinks them against a changed layer (through the umbrella alone, one linked stale
        // objects and crashed).
        .executableTarget(
            name: "handoff",
            dependencies: [
                "Handoff", "HandoffSupport", "HandoffModel", "HandoffSim", "HandoffAnalysis", "HandoffEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The fixed workload of the instruction-count guard (scripts/perf-guard).
        .executableTarget(name: "handoff-guard", dependencies: ["Handoff", "HandoffModel", "HandoffSim"]),
        // libFuzzer entry points for the readers (scripts/fuzz); a plain build replays files.
        .executableTarget(name: "handoff-fuzz", dependencies: ["HandoffSupport", "HandoffModel"]),
        .testTarget(name: "HandoffTests", dependencies: ["Handoff"]),
    ]
)
