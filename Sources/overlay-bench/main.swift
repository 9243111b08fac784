import Foundation

// overlay-bench WHICH: plans | snapshot | links | nft | wg | controller [AGENTS] | replicas [AGENTS] | writes | all.
// Each prints its figures beside the baseline measured in the same run, as a ratio, with the peak memory of this
// process.
let which = CommandLine.arguments.dropFirst().first ?? "all"
do {
    switch which {
    case "plans": try runPlansBenchmark()
    case "snapshot": try runSnapshotProbe()
    case "links": try runLinksBenchmark()
    case "nft": try runNFTablesBenchmark()
    case "wg": try runWireGuardBenchmark()
    case "controller":
        let agents = try agentCountArgument(default: 1000)
        try runBlocking { try await runControllerBenchmark(agentCount: agents) }
    case "replicas":
        let agents = try agentCountArgument(default: 2000)
        try runBlocking { try await runReplicasBenchmark(agentCount: agents) }
    case "writes": try runStoreWritesBenchmark()
    case "all":
        try runPlansBenchmark()
        try runLinksBenchmark()
        try runNFTablesBenchmark()
        try runWireGuardBenchmark()
        try runBlocking { try await runControllerBenchmark(agentCount: 1000) }
    default:
        FileHandle.standardError.write(
            Data(
                "usage: overlay-bench plans|snapshot|links|nft|wg|controller [AGENTS]|replicas [AGENTS]|writes|all\n"
                    .utf8))
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

/// The optional agent count after the benchmark's name.
func agentCountArgument(default value: Int) throws -> Int {
    let args = Array(CommandLine.arguments.dropFirst(2))
    guard let text = args.first else { return value }
    guard args.count == 1, let n = Int(text) else {
        throw BenchError("invalid agent count '\(args.joined(separator: " "))': one number, a multiple of 10")
    }
    return n
}
