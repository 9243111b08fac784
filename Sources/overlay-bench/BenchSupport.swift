import Foundation
import Glibc

/// Helpers shared by the benchmarks: timing, medians, peak memory, running a baseline command.
enum Bench {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1_000_000
    }

    /// Milliseconds taken by `body`.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let t = now()
        try body()
        return now() - t
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
    }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
    }

    /// One row of a side-by-side table: the label and both figures, each padded to its column of
    /// `widths`, then B/A (`-` when A is 0).
    static func comparisonRow(
        _ label: String, _ a: Double, _ b: Double, unit: String, digits: Int = 1, ratioDigits: Int = 2,
        widths: (label: Int, a: Int, b: Int)
    ) -> String {
        label.padding(toLength: widths.label, withPad: " ", startingAt: 0)
            + (fmt(a, digits) + unit).padding(toLength: widths.a, withPad: " ", startingAt: 0)
            + (fmt(b, digits) + unit).padding(toLength: widths.b, withPad: " ", startingAt: 0)
            + (a > 0 ? "\(fmt(b / a, ratioDigits))x" : "-")
    }

    /// CPU time (user and system, every thread) of this process so far, in ms.
    static func processCPUms() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1_000_000
    }

    /// Peak resident set of this process so far, in MB.
    static func peakRSSMB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    /// Runs a command, returning its stdout and wall time in ms; throws on a non-zero exit.
    @discardableResult
    static func run(_ args: [String], stdin: String? = nil) throws -> (output: String, ms: Double) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        let inPipe = Pipe()
        if stdin != nil { p.standardInput = inPipe }
        let t = now()
        try p.run()
        if let stdin {
            inPipe.fileHandleForWriting.write(Data(stdin.utf8))
            try inPipe.fileHandleForWriting.close()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let ms = now() - t
        guard p.terminationStatus == 0 else {
            throw BenchError("\(args.joined(separator: " ")) exited with \(p.terminationStatus)")
        }
        return (String(decoding: data, as: UTF8.self), ms)
    }

    static func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The baselines live beside the checkout, in ../shared/baselines.
enum Baselines {
    static var directory: String {
        let here = URL(fileURLWithPath: #filePath)
        let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for candidate in [root.appendingPathComponent("../shared/baselines").path, "/work/shared/baselines"]
        where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        return root.appendingPathComponent("../shared/baselines").path
    }
}
