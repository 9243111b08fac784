import Foundation

// overlay-bench WHICH: plans | snapshot | links | nft | wg | controller | writes | all. Each prints its figures beside
// the baseline measured in the same run, as a ratio, with the peak memory of this process.
let which = CommandLine.arguments.dropFirst().first ?? "all"
do {
    switch which {
    case "plans": try runPlansBenchmark()
    case "snapshot": try runSnapshotProbe()
    case "links": try runLinksBenchmark()
    case "nft": try runNFTablesBenchmark()
    case "wg": try runWireGuardBenchmark()
    case "controller": try runBlocking { try await runControllerBenchmark() }
    case "writes": try runStoreWritesBenchmark()
    case "all":
        try runPlansBenchmark()
        try runLinksBenchmark()
        try runNFTablesBenchmark()
        try runWireGuardBenchmark()
        try runBlocking { try await runControllerBenchmark() }
    default:
        FileHandle.standardError.write(
            Data("usage: overlay-bench plans|snapshot|links|nft|wg|controller|writes|all\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("benchmark failed: \(error)\n".utf8))
    exit(1)
}

/// Runs async work from this synchronous main thread (which is not part of the task pool).
func runBlocking(_ body: @escaping @Sendable () async throws -> Void) throws {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var failure: Error?
    Task {
        do { try await body() } catch { failure = error }
        done.signal()
    }
    done.wait()
    if let failure { throw failure }
}
