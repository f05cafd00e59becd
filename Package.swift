// swift-tools-version: 6.0
import PackageDescription

// One executable over one library. No third-party packages: the toolchain, Glibc and a
// small C target for what Swift must not do (the code between fork and exec).
let package = Package(
    name: "solo",
    products: [
        .executable(name: "solo", targets: ["solo"]),
    ],
    targets: [
        .target(name: "CSoloSpawn"),
        // The system's libsqlite3 (apt-get install libsqlite3-dev), for the embedded queue.
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "SoloKit", dependencies: ["CSoloSpawn", "CSQLite"]),
        .executableTarget(name: "solo", dependencies: ["SoloKit"]),
        // The benchmark behind the README's figures (bench/run); Foundation is fine here.
        .executableTarget(name: "solo-bench", dependencies: ["SoloKit"]),
        .testTarget(name: "SoloKitTests", dependencies: ["SoloKit"]),
        .testTarget(name: "IntegrationTests", dependencies: ["SoloKit", "solo"]),
    ]
)
