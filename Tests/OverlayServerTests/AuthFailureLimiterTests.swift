import Testing

@testable import OverlayServer

@Suite struct AuthFailureLimiterTests {
    let config = AuthFailureLimiter.Configuration(burst: 5, refillPerSecond: 0.5)

    @Test func aSourceIsRefusedAfterItsBurstOfFailures() {
        var l = AuthFailureLimiter(config)
        for i in 0..<5 {
            #expect(l.check(source: "198.51.100.7", now: 0) == .allow)
            #expect(l.failed(source: "198.51.100.7", now: 0) == (i == 4))
        }
        // Empty: one failure comes back after 2 s.
        #expect(l.check(source: "198.51.100.7", now: 0) == .refuse(retryAfter: 2))
        #expect(l.check(source: "198.51.100.7", now: 1.5) == .refuse(retryAfter: 1))
        #expect(l.check(source: "198.51.100.7", now: 2) == .allow)
    }

    @Test func otherSourcesAndSuccessesAreNeverSlowed() {
        var l = AuthFailureLimiter(config)
        for _ in 0..<40 { l.failed(source: "198.51.100.7", now: 0) }
        #expect(l.check(source: "198.51.100.7", now: 0) != .allow)
        // Another address, and a source that never failed, are not even remembered.
        #expect(l.check(source: "203.0.113.9", now: 0) == .allow)
        #expect(l.count == 1)
    }

    @Test func failuresComeBackWithTimeButNeverAboveTheBurst() {
        var l = AuthFailureLimiter(config)
        for _ in 0..<5 { l.failed(source: "s", now: 0) }
        // After an hour the bucket is full again, not 1,800 failures deep.
        for _ in 0..<5 { l.failed(source: "s", now: 3600) }
        #expect(l.check(source: "s", now: 3600) == .refuse(retryAfter: 2))
    }

    @Test func memoryIsBoundedEvenUnderManySources() {
        var l = AuthFailureLimiter(.init(burst: 3, refillPerSecond: 1, maxSources: 100))
        for i in 0..<1_000 { l.failed(source: "10.0.\(i / 256).\(i % 256)", now: 0) }
        #expect(l.count <= 100)
        // Sources that earned everything back go first.
        var m = AuthFailureLimiter(.init(burst: 3, refillPerSecond: 1, maxSources: 2))
        m.failed(source: "old", now: 0)
        for _ in 0..<3 { m.failed(source: "busy", now: 9.9) }
        m.failed(source: "new", now: 10)
        #expect(m.check(source: "busy", now: 10) != .allow)
        #expect(m.count == 2)
    }
}
