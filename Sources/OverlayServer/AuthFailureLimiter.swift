/// The decision on repeated authentication failures: per source address, a bucket of allowed
/// failures that refills with time. A failed authentication (a wrong admin token, a bad agent
/// signature, a bad join token) takes one; a source whose bucket is empty gets `429` with
/// `Retry-After` before anything is checked, so guessing is slowed to the refill rate. Successes
/// take nothing: a client that authenticates is never slowed. Pure: the caller passes the time.
struct AuthFailureLimiter {
    struct Configuration: Sendable {
        /// Failures a source may make in a row before it is refused.
        var burst = 20
        /// Failures a source earns back per second (one every 5 s: 12 guesses a minute).
        var refillPerSecond = 0.2
        /// Sources remembered at most; beyond it, the ones that have earned everything back are
        /// forgotten first, then the oldest.
        var maxSources = 10_000

        init() {}

        init(burst: Int, refillPerSecond: Double, maxSources: Int = 10_000) {
            self.burst = burst
            self.refillPerSecond = refillPerSecond
            self.maxSources = maxSources
        }
    }

    enum Decision: Equatable {
        case allow
        /// Refused; a failure may be tried again after this many seconds (at least 1).
        case refuse(retryAfter: Int)
    }

    private struct Bucket {
        var left: Double
        var updated: Double
    }

    let configuration: Configuration
    private var buckets: [String: Bucket] = [:]

    init(_ configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    /// Sources remembered now.
    var count: Int { buckets.count }

    /// Whether a request from `source` may try to authenticate at `now` (seconds).
    mutating func check(source: String, now: Double) -> Decision {
        guard var b = buckets[source] else { return .allow }
        refill(&b, now: now)
        buckets[source] = b
        if b.left >= 1 { return .allow }
        let wait = (1 - b.left) / configuration.refillPerSecond
        return .refuse(retryAfter: max(1, Int(wait.rounded(.up))))
    }

    /// A request from `source` failed to authenticate. True when this failure used the last one
    /// allowed (the moment worth a log line).
    @discardableResult
    mutating func failed(source: String, now: Double) -> Bool {
        var b = buckets[source] ?? Bucket(left: Double(configuration.burst), updated: now)
        refill(&b, now: now)
        b.left = max(0, b.left - 1)
        if buckets[source] == nil, buckets.count >= configuration.maxSources { evict(now: now) }
        buckets[source] = b
        return b.left < 1
    }

    private func refill(_ b: inout Bucket, now: Double) {
        let earned = max(0, now - b.updated) * configuration.refillPerSecond
        b.left = min(Double(configuration.burst), b.left + earned)
        b.updated = now
    }

    /// Forgets the sources that earned everything back; if none did, the oldest quarter.
    private mutating func evict(now: Double) {
        let full = buckets.filter { _, b in
            b.left + max(0, now - b.updated) * configuration.refillPerSecond >= Double(configuration.burst)
        }
        if !full.isEmpty {
            for key in full.keys { buckets[key] = nil }
            return
        }
        let oldest = buckets.sorted { $0.value.updated < $1.value.updated }.prefix(max(1, buckets.count / 4))
        for (key, _) in oldest { buckets[key] = nil }
    }
}
