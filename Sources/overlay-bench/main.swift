import Foundation

// Dispatch to the benchmarks: `overlay-bench links|nft|all`.
let which = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "all"
do {
    switch which {
    case "links": try runLinksBenchmark()
    case "nft": try runNFTablesBenchmark()
    case "all":
        try runLinksBenchmark()
        try runNFTablesBenchmark()
    default:
        FileHandle.standardError.write(Data("usage: overlay-bench links|nft|all\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("overlay-bench: \(error)\n".utf8))
    exit(1)
}
