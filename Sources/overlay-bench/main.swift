import Foundation

// Minimal dispatcher; other benchmarks join here.
let command = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : ""
do {
    switch command {
    case "wg", "all":
        try runWireGuardBenchmark()
    default:
        FileHandle.standardError.write(Data("usage: overlay-bench wg|all\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("overlay-bench: \(error)\n".utf8))
    exit(1)
}
