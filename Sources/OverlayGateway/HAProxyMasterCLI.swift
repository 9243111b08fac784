/// HAProxy's master CLI (`-S socket`), read without I/O: the replies the agent uses to confirm that
/// a reload took effect, and the decision taken from two `show proc` replies.
///
/// What HAProxy 2.6 does (found by experiment, and why the agent polls):
/// - `reload` gets no reply; the master re-executes itself, and while it does its socket refuses
///   connections or closes them without a reply, and a `show proc` sent just after `reload` may
///   still be answered by the old generation. Only the master's reload counter tells a new load;
/// - `show proc` lists the master with `RELOADS [failed: N]` (N counts the failed loads since the
///   last good one: a bind failure leaves the old workers serving and N > 0), the current workers
///   under `# workers`, and workers told to stop under `# old workers`: they finish their
///   established connections;
/// - `@!PID show info` asks one worker; `Stopping: 1` means it has closed its listeners, so only
///   the new workers accept connections.
public enum HAProxyMasterCLI {
    public struct Processes: Equatable, Sendable {
        public var master: Int32
        public var reloads: Int
        /// Failed loads since the last successful one.
        public var failedReloads: Int
        /// The current generation.
        public var workers: [Int32]
        /// Workers of earlier generations, stopping.
        public var oldWorkers: [Int32]

        public init(master: Int32, reloads: Int, failedReloads: Int, workers: [Int32], oldWorkers: [Int32] = []) {
            self.master = master
            self.reloads = reloads
            self.failedReloads = failedReloads
            self.workers = workers
            self.oldWorkers = oldWorkers
        }
    }

    /// A complete `show proc` reply, or nil (empty, cut short, or not that reply). The header, the
    /// master's line and the `# workers` and `# programs` markers must all be there, so a reply
    /// cut by a re-executing master is never taken for a generation without workers.
    public static func processes(_ reply: String) -> Processes? {
        let lines = reply.split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let header = lines.first, header.hasPrefix("#<PID>") else { return nil }
        var master: (pid: Int32, reloads: Int, failed: Int)?
        var workers: [Int32] = []
        var old: [Int32] = []
        enum Section { case head, workers, old, programs, other }
        var section = Section.head
        var sawWorkers = false
        var sawPrograms = false
        for line in lines.dropFirst() {
            if line.hasPrefix("#") {
                switch line {
                case "# workers":
                    section = .workers
                    sawWorkers = true
                case "# old workers": section = .old
                case "# programs":
                    section = .programs
                    sawPrograms = true
                default: section = .other
                }
                continue
            }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let pid = Int32(fields[0]), pid > 0 else { return nil }
            switch (section, fields[1]) {
            case (.head, "master"):
                // `12 master 3 [failed: 1] 0d00h00m24s 2.6.12`
                guard master == nil, fields.count >= 5, let reloads = Int(fields[2]), reloads >= 0,
                    fields[3] == "[failed:", fields[4].hasSuffix("]"),
                    let failed = Int(fields[4].dropLast()), failed >= 0
                else { return nil }
                master = (pid, reloads, failed)
            case (.workers, "worker"): workers.append(pid)
            case (.old, "worker"): old.append(pid)
            case (.programs, _), (.other, _): continue
            default: return nil
            }
        }
        guard let master, sawWorkers, sawPrograms else { return nil }
        return Processes(
            master: master.pid, reloads: master.reloads, failedReloads: master.failed, workers: workers, oldWorkers: old
        )
    }

    /// From a worker's `show info`: whether it is stopping (has closed its listeners); nil when
    /// the reply does not say.
    public static func isStopping(info reply: String) -> Bool? {
        for line in reply.split(separator: "\n") where line.hasPrefix("Stopping:") {
            switch line.dropFirst("Stopping:".count).trimmingCharacters(in: .whitespaces) {
            case "1": return true
            case "0": return false
            default: return nil
            }
        }
        return nil
    }

    /// The master's answer to `@!PID ...` for a process it no longer has (the worker has ended).
    public static func isUnknownProcess(_ reply: String) -> Bool {
        reply.hasPrefix("Can't find the target PID")
    }

    /// Where a reload stands, from `show proc` before it was asked for and now.
    public enum Reload: Equatable, Sendable {
        /// Not loaded yet (the master has not counted a new load, or has no new worker listed).
        case pending
        /// The master could not load the configuration (a bind failure, say): the old workers
        /// still serve.
        case failed
        /// The new generation runs; these workers of the previous one must still be seen
        /// stopping (or gone) before the old configuration stops answering.
        case loaded(previous: [Int32])
    }

    public static func reload(before: Processes, now: Processes) -> Reload {
        guard now.master == before.master, now.reloads > before.reloads else { return .pending }
        if now.failedReloads > 0 { return .failed }
        let previous = Set(before.workers)
        guard !now.workers.isEmpty, !now.workers.contains(where: previous.contains) else { return .pending }
        return .loaded(previous: before.workers.filter { now.oldWorkers.contains($0) })
    }
}
