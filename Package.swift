// swift-tools-version: 6.2
import PackageDescription

// Intone builds and runs on Linux (it links hiredis, espeak-ng, libsndfile, soxr and opus from
// the system). CI sets INTONE_WARNINGS_AS_ERRORS=1 so that a compiler warning in
// Intone's own targets fails the build; dependencies are not affected.
let ownTargetSettings: [SwiftSetting] =
    Context.environment["INTONE_WARNINGS_AS_ERRORS"] == "1" ? [.treatAllWarnings(as: .error)] : []

let package = Package(
    name: "intone",
    products: [
        .executable(name: "intone", targets: ["intone"]),
        .library(name: "IntoneCore", targets: ["IntoneCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CEspeakNG",
            pkgConfig: "espeak-ng",
            providers: [.apt(["libespeak-ng-dev"])]
        ),
        .systemLibrary(
            name: "CSndfile",
            pkgConfig: "sndfile",
            providers: [.apt(["libsndfile1-dev"])]
        ),
        .systemLibrary(
            name: "CSoxr",
            pkgConfig: "soxr",
            providers: [.apt(["libsoxr-dev"])]
        ),
        .systemLibrary(
            name: "COpus",
            pkgConfig: "opus",
            providers: [.apt(["libopus-dev"])]
        ),
        .target(name: "CSpawn"),
        .target(
            name: "IntoneCore",
            dependencies: [
                "CSpawn",
                "CHiredis",
                "CEspeakNG",
                "CSndfile",
                "CSoxr",
                "COpus",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: ownTargetSettings
        ),
        .target(
            name: "IntoneTools",
            dependencies: [
                "IntoneCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: ownTargetSettings
        ),
        .target(
            name: "IntoneWeb",
            dependencies: [
                "IntoneCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: ownTargetSettings
        ),
        .executableTarget(
            name: "intone",
            dependencies: [
                "IntoneCore",
                "IntoneWeb",
                "IntoneTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: ownTargetSettings
        ),
        .testTarget(
            name: "IntoneTests",
            dependencies: [
                "IntoneCore",
                "IntoneWeb",
                "IntoneTools",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                "CSndfile",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: ownTargetSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
