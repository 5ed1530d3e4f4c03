// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "intone",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "intone", targets: ["intone"]),
        .library(name: "IntoneCore", targets: ["IntoneCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        .target(
            name: "IntoneCore",
            dependencies: [
                "CHiredis",
                "CEspeakNG",
                "CSndfile",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "intone",
            dependencies: [
                "IntoneCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "IntoneTests",
            dependencies: [
                "IntoneCore",
                "CSndfile",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
