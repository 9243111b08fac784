import Foundation

// overlay-bench WHICH: plans | wg | all. Each prints its figures beside the baseline measured in
// the same run, as a ratio.
let which = CommandLine.arguments.dropFirst().first ?? "all"
do {
    switch which {
    case "plans": try runPlansBenchmark()
    case "wg": try runWireGuardBenchmark()
    case "snapshot-probe": try runSnapshotProbe()
    case "all":
        try runPlansBenchmark()
        try runWireGuardBenchmark()
    default:
        FileHandle.standardError.write(Data("usage: overlay-bench plans|wg|all\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    exit(1)
}
