import Foundation
import OverlayGateway
import OverlayTestSupport
import Testing

/// The master CLI replies, as HAProxy 2.6.12 writes them (captured from a running master).
@Suite("HAProxy master CLI")
struct HAProxyMasterCLITests {
    static let header = "#<PID>          <type>          <reloads>       <uptime>        <version>      "

    static func reply(
        master: Int32 = 18488, reloads: Int, failed: Int, workers: [(Int32, Int)], old: [(Int32, Int)] = []
    ) -> String {
        var l = [
            header,
            "\(master)           master          \(reloads) [failed: \(failed)]   0d00h01m08s     2.6.12-1+deb12u4",
            "# workers",
        ]
        l += workers.map { "\($0.0)           worker          \($0.1)               0d00h00m00s     2.6.12-1+deb12u4" }
        if !old.isEmpty {
            l.append("# old workers")
            l += old.map { "\($0.0)           worker          \($0.1)               0d00h00m08s     2.6.12-1+deb12u4" }
        }
        l.append("# programs")
        return l.joined(separator: "\n") + "\n"
    }

    @Test("show proc: the master's counters, current and old workers")
    func showProc() {
        let text = Self.reply(reloads: 8, failed: 0, workers: [(30369, 0)], old: [(28799, 1)])
        #expect(
            HAProxyMasterCLI.processes(text)
                == .init(master: 18488, reloads: 8, failedReloads: 0, workers: [30369], oldWorkers: [28799]))
        let failed = Self.reply(reloads: 3, failed: 1, workers: [(21385, 1)])
        #expect(
            HAProxyMasterCLI.processes(failed)
                == .init(master: 18488, reloads: 3, failedReloads: 1, workers: [21385]))
    }

    @Test("an empty, cut or foreign reply is no reply")
    func incomplete() {
        let full = Self.reply(reloads: 1, failed: 0, workers: [(19478, 0)])
        #expect(HAProxyMasterCLI.processes("") == nil)
        #expect(HAProxyMasterCLI.processes("\n") == nil)
        // Cut before the end: the worker list may be incomplete.
        #expect(HAProxyMasterCLI.processes(String(full.prefix(full.count - 12))) == nil)
        #expect(HAProxyMasterCLI.processes(full.replacingOccurrences(of: "[failed: 0]", with: "[failed: x]")) == nil)
        #expect(
            HAProxyMasterCLI.processes("Unknown command. Please enter one of the following commands only :\n") == nil)
        #expect(HAProxyMasterCLI.processes(Self.header + "\n# workers\n# programs\n") == nil)  // no master line
    }

    @Test("show info: stopping or not; an unknown PID")
    func info() {
        #expect(
            HAProxyMasterCLI.isStopping(info: "Name: HAProxy\nVersion: 2.6.12\nPid: 28799\nStopping: 1\nJobs: 3\n")
                == true)
        #expect(HAProxyMasterCLI.isStopping(info: "Pid: 30369\nStopping: 0\n") == false)
        #expect(HAProxyMasterCLI.isStopping(info: "Pid: 30369\n") == nil)
        #expect(HAProxyMasterCLI.isUnknownProcess("Can't find the target PID matching the prefix '@!12345'\n"))
        #expect(!HAProxyMasterCLI.isUnknownProcess("Name: HAProxy\n"))
    }

    @Test("a reload is loaded once the master counts it with new workers, failed when it counts a failure")
    func reload() {
        let before = HAProxyMasterCLI.processes(Self.reply(reloads: 7, failed: 0, workers: [(28799, 0)]))!
        // Answered by the generation before the reload, or a master still starting its workers.
        #expect(HAProxyMasterCLI.reload(before: before, now: before) == .pending)
        #expect(
            HAProxyMasterCLI.reload(
                before: before, now: .init(master: 18488, reloads: 8, failedReloads: 0, workers: [])) == .pending)
        // Another master (restarted in between) says nothing about this reload.
        #expect(
            HAProxyMasterCLI.reload(before: before, now: .init(master: 1, reloads: 8, failedReloads: 0, workers: [2]))
                == .pending)
        let loaded = HAProxyMasterCLI.processes(
            Self.reply(reloads: 8, failed: 0, workers: [(30369, 0)], old: [(28799, 1)]))!
        #expect(HAProxyMasterCLI.reload(before: before, now: loaded) == .loaded(previous: [28799]))
        // The old worker had no connection left and is gone already.
        let gone = HAProxyMasterCLI.processes(Self.reply(reloads: 8, failed: 0, workers: [(30369, 0)]))!
        #expect(HAProxyMasterCLI.reload(before: before, now: gone) == .loaded(previous: []))
        let failed = HAProxyMasterCLI.processes(Self.reply(reloads: 8, failed: 1, workers: [(28799, 1)]))!
        #expect(HAProxyMasterCLI.reload(before: before, now: failed) == .failed)
        // A good load after failures resets the count.
        let again = HAProxyMasterCLI.processes(Self.reply(reloads: 10, failed: 2, workers: [(28799, 2)]))!
        #expect(
            HAProxyMasterCLI.reload(
                before: again, now: .init(master: 18488, reloads: 11, failedReloads: 0, workers: [4]))
                == .loaded(previous: []))
    }

    @Test("random and mutated replies: no crash, no hang, and a parsed reply is self-consistent")
    func fuzz() {
        var rng = SeededRNG(seed: 0x6a61_7465_7761_7921)
        let pieces = [
            "#<PID>", "master", "worker", "[failed:", "]", "# workers", "# old workers", "# programs", "\n", " ",
            "\t", "-1", "0", "4294967296", "99999999999999999999", "2147483647", "Stopping: 1", "\u{0}", "é", "@!",
        ]
        let seeds = [
            Self.reply(reloads: 8, failed: 0, workers: [(30369, 0)], old: [(28799, 1)]),
            Self.reply(reloads: 3, failed: 1, workers: [(21385, 1), (21386, 1)]),
            "Pid: 1\nStopping: 1\n", "",
        ]
        let start = Date()
        var parsed = 0
        var cases = 0
        while Date().timeIntervalSince(start) < 2 {
            var bytes = Array(seeds.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0 where !bytes.isEmpty: bytes.remove(at: at)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                case 2: bytes.insert(contentsOf: Array(pieces.randomElement(using: &rng)!.utf8), at: at)
                case 3 where !bytes.isEmpty:
                    bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...40, using: &rng)))
                default: bytes += bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            _ = HAProxyMasterCLI.isStopping(info: text)
            _ = HAProxyMasterCLI.isUnknownProcess(text)
            if let p = HAProxyMasterCLI.processes(text) {
                parsed += 1
                #expect(p.master > 0 && p.reloads >= 0 && p.failedReloads >= 0)
                #expect((p.workers + p.oldWorkers).allSatisfy { $0 > 0 })
                let before = HAProxyMasterCLI.Processes(
                    master: p.master, reloads: max(0, p.reloads - 1), failedReloads: 0, workers: [7])
                switch HAProxyMasterCLI.reload(before: before, now: p) {
                case .failed: #expect(p.failedReloads > 0)
                case .loaded(let previous): #expect(previous.allSatisfy(p.oldWorkers.contains) && !p.workers.isEmpty)
                case .pending: #expect(p.reloads == 0 || p.workers.isEmpty || p.workers.contains(7))
                }
            }
            cases += 1
        }
        // The mutations keep some replies whole, so the checks above did run.
        #expect(cases > 1000 && parsed > 0)
    }
}
