import Foundation
import SystemCalls

/// Host sysctls the agent changed and what they were before (`KEY=VALUE` a line), so `down`
/// restores them even after a crash or a restart of the agent.
extension StateDirectory {
    var sysctlPath: String { path + "/sysctl-originals" }

    public func recordedSysctls() -> [String: String] {
        guard let text = try? String(contentsOfFile: sysctlPath, encoding: .utf8) else { return [:] }
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    /// Keeps the first value seen for `key`; a later record never overwrites it.
    func recordSysctl(_ key: String, original: String) throws {
        var all = recordedSysctls()
        guard all[key] == nil else { return }
        all[key] = original.trimmingCharacters(in: .whitespacesAndNewlines)
        try writeSysctls(all)
    }

    func forgetSysctl(_ key: String) throws {
        var all = recordedSysctls()
        guard all.removeValue(forKey: key) != nil else { return }
        try writeSysctls(all)
    }

    private func writeSysctls(_ all: [String: String]) throws {
        try createDirectory()
        let text = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        let tmp = sysctlPath + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else {
            throw StateDirectoryError.corrupt("cannot write \(tmp)")
        }
        do throws(SystemCallError) {
            try systemCall("rename", "\(tmp) to \(sysctlPath)") { rename(tmp, sysctlPath) }
        } catch {
            throw StateDirectoryError.io(error)
        }
    }
}
