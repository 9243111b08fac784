import Foundation

// overlay-bench WHICH: plans | snapshot | links | nft | wg | all. Each prints its figures beside
// the baseline measured in the same run, as a ratio, with the peak memory of this process.
let which = CommandLine.arguments.dropFirst().first ?? "all"
do {
    switch which {
    case "plans": try runPlansBenchmark()
    case "snapshot": try runSnapshotProbe()
    case "links": try runLinksBenchmark()
    case "nft": try runNFTablesBenchmark()
    case "wg": try runWireGuardBenchmark()
    case "all":
        try runPlansBenchmark()
        try runLinksBenchmark()
        try runNFTablesBenchmark()
        try runWireGuardBenchmark()
    default:
        FileHandle.standardError.write(Data("usage: overlay-bench plans|snapshot|links|nft|wg|all\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    exit(1)
}
