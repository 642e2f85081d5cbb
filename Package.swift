// swift-tools-version:6.0
import PackageDescription

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
        // libcurl (OpenSSL) for https:// servers; plain http:// keeps the POSIX-socket client.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(
            name: "Handoff",
            dependencies: ["CGSL", "CCurl", .product(name: "Yams", package: "Yams")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "handoff",
            dependencies: ["Handoff", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The fixed workload of the instruction-count guard (scripts/perf-guard).
        .executableTarget(name: "handoff-guard", dependencies: ["Handoff"]),
        // libFuzzer entry points for the readers (scripts/fuzz); a plain build replays files.
        .executableTarget(name: "handoff-fuzz", dependencies: ["Handoff"]),
        .testTarget(name: "HandoffTests", dependencies: ["Handoff"]),
    ]
)
