/// Retry delays for talking to the controller: exponential from `initial`, doubling up to
/// `maximum`, with "equal jitter" (each delay is uniformly in [d/2, d]) so that agents cut off
/// together do not come back in lockstep. `reset()` after a success.
public struct Backoff: Sendable {
    public var initial: Duration
    public var maximum: Duration
    public private(set) var failures = 0

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The un-jittered delay after `failures` consecutive failures (1 → `initial`).
    public func ceiling(after failures: Int) -> Duration {
        guard failures > 0 else { return .zero }
        var d = initial
        for _ in 1..<min(failures, 64) {
            d *= 2
            if d >= maximum { return maximum }
        }
        return min(d, maximum)
    }

    /// Records a failure and returns how long to wait; `unit` is a random number in [0, 1).
    public mutating func next(unit: Double = Double.random(in: 0..<1)) -> Duration {
        failures += 1
        let d = ceiling(after: failures)
        return d / 2 + d / 2 * min(max(unit, 0), 1)
    }

    public mutating func reset() { failures = 0 }
}
