// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "overlay",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "overlayctl", targets: ["overlayctl"]),
        .executable(name: "overlayd", targets: ["overlayd"]),
        .executable(name: "overlay-agent", targets: ["overlay-agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
    ],
    targets: [
        // C libraries, as Debian ships them.
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // What Swift cannot import directly: macros, and setns confined to one thread.
        .target(name: "CNetlink", dependencies: ["CMnl"]),

        // Pure: values and decisions.
        .target(name: "OverlayModel"),
        .target(name: "OverlayPlanner", dependencies: ["OverlayModel"]),

        // Keys, state, use cases.
        .target(name: "OverlayCrypto", dependencies: ["OverlayModel", "CSodium"]),
        // Certificates and keys operators hand over for TLS termination at a gateway.
        .target(name: "OverlayTLS", dependencies: ["OverlayModel", "COpenSSL"]),
        .target(
            name: "OverlayStore",
            dependencies: [
                "OverlayModel", "SystemCalls", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]),
        .target(
            name: "OverlayController",
            dependencies: [
                "OverlayModel", "OverlayPlanner", "OverlayCrypto", "OverlayStore", "OverlayTLS", "OverlayProtocol",
                "Yams",
            ]),

        // The controller-agent protocol: signed requests, signed plans, messages, tokens.
        .target(name: "OverlayProtocol", dependencies: ["OverlayModel", "OverlayPlanner", "OverlayCrypto"]),

        // The admin use cases behind one interface: in process (a Controller) or over HTTP.
        .target(
            name: "OverlayHTTPClient",
            dependencies: [
                "OverlayModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "OverlayAPI",
            dependencies: [
                "OverlayController", "OverlayModel", "OverlayPlanner", "OverlayProtocol", "OverlayHTTPClient",
            ]),

        // The controller service: HTTP routes, authentication, plan long-polls, metrics.
        .target(
            name: "OverlayServer",
            dependencies: [
                "OverlayAPI", "OverlayController", "OverlayProtocol", "OverlayCrypto", "OverlayModel", "OverlayStore",
                "SystemCalls",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),

        // The kernel.
        // Every raw system call goes through its funnel: errno becomes a typed error naming the call.
        .target(name: "SystemCalls"),
        .target(name: "Netlink", dependencies: ["CNetlink", "CMnl", "OverlayModel", "SystemCalls"]),
        .target(name: "NFTables", dependencies: ["Netlink", "CMnl", "CNftnl", "OverlayModel"]),
        // Child processes the agent starts and reaps itself (wireguard-go, HAProxy).
        .target(name: "ProcessControl", dependencies: ["SystemCalls"]),
        .target(
            name: "WireGuard",
            dependencies: ["ProcessControl", "Netlink", "OverlayCrypto", "OverlayModel", "SystemCalls"]),
        // The gateway's proxy configuration, rendered from the plan (pure).
        .target(name: "OverlayGateway", dependencies: ["OverlayModel", "OverlayPlanner"]),
        .target(
            name: "OverlayAgent",
            dependencies: [
                "OverlayModel", "OverlayPlanner", "OverlayCrypto", "OverlayGateway", "OverlayProtocol",
                "OverlayHTTPClient",
                "Netlink", "NFTables", "WireGuard", "ProcessControl", "SystemCalls",
            ]),

        // Thin executables.
        .executableTarget(
            name: "overlayctl",
            dependencies: [
                "OverlayAPI", "OverlayController", "OverlayHTTPClient", "OverlayModel", "OverlayPlanner",
                "OverlayProtocol", "OverlayStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "overlayd",
            dependencies: [
                "OverlayServer", "OverlayController", "OverlayStore", "OverlayModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The controller stays resident, so what the dynamic linker reads at start stays in its
            // memory: lld packs the 150,000 relative relocations of a static-stdlib build (3.5 MB of
            // RELA) into a few KB of RELR (glibc 2.36 and later), and nothing is exported, since
            // nothing loads this executable's symbols (the static stdlib's flags export every
            // symbol of our objects: 5 MB of symbol tables, a third of it read at start for
            // lookups). RELRO, PIE and non-executable data stay as they were.
            linkerSettings: [
                .unsafeFlags([
                    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker",
                    "--no-export-dynamic",
                ])
            ]),
        .executableTarget(
            name: "overlay-agent",
            dependencies: [
                "OverlayAgent", "WireGuard", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "overlay-bench",
            dependencies: [
                "OverlayController", "OverlayModel", "OverlayPlanner", "OverlayStore", "Netlink", "NFTables",
                "WireGuard",
                "OverlayAPI", "OverlayProtocol", "OverlayCrypto", "OverlayHTTPClient",
            ]),

        // Unit tests: no root, fast.
        // A seeded generator shared by the randomized tests.
        .target(name: "OverlayTestSupport", path: "Tests/OverlayTestSupport"),
        .testTarget(name: "OverlayModelTests", dependencies: ["OverlayModel", "OverlayTestSupport"]),
        .testTarget(
            name: "OverlayPlannerTests", dependencies: ["OverlayPlanner", "OverlayModel", "OverlayTestSupport"]),
        .testTarget(name: "OverlayCryptoTests", dependencies: ["OverlayCrypto", "OverlayModel"]),
        .testTarget(
            name: "OverlayControllerTests",
            dependencies: [
                "OverlayController", "OverlayStore", "OverlayCrypto", "OverlayPlanner", "OverlayModel",
                "OverlayTestSupport",
                // The migration tests write a database at an older schema first.
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(
            name: "OverlayServerTests",
            dependencies: [
                "OverlayServer", "OverlayAPI", "OverlayController", "OverlayProtocol", "OverlayCrypto", "OverlayStore",
                "OverlayModel", "OverlayHTTPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "NetlinkTests",
            dependencies: ["Netlink", "NFTables", "OverlayModel", "SystemCalls", "OverlayTestSupport"]),
        .testTarget(
            name: "OverlayProtocolTests",
            dependencies: ["OverlayProtocol", "OverlayPlanner", "OverlayCrypto", "OverlayModel"]),
        .testTarget(
            name: "WireGuardTests", dependencies: ["WireGuard", "Netlink", "OverlayModel", "OverlayTestSupport"]),
        .testTarget(
            name: "OverlayAgentTests",
            dependencies: [
                "OverlayAgent", "OverlayPlanner", "OverlayModel", "OverlayCrypto", "OverlayProtocol", "WireGuard",
                "OverlayTestSupport",
                "Netlink",
                "NFTables", "OverlayGateway",
            ]),
        .testTarget(
            name: "OverlayGatewayTests",
            dependencies: ["OverlayGateway", "OverlayPlanner", "OverlayModel", "OverlayTestSupport"]),

        // Integration tests: root, real kernel, real traffic, in namespaces the tests create.
        .testTarget(
            name: "NetnsTests",
            dependencies: ["Netlink", "NFTables", "WireGuard", "OverlayModel"],
            path: "netns-tests/NetnsTests"),
    ],
    swiftLanguageModes: [.v6]
)
