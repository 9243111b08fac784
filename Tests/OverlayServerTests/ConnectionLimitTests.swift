import Foundation
import Glibc
import Logging
import OverlayHTTPClient
import ServiceLifecycle
import Testing

@testable import OverlayServer

@Suite struct ConnectionBudgetTests {
    @Test func eachSourceAndTheWholeServerAreBounded() {
        var b = ConnectionBudget(perSource: 2, total: 3)
        var ok = b.accept("198.51.100.1")
        #expect(ok)
        ok = b.accept("198.51.100.1")
        #expect(ok)
        ok = b.accept("198.51.100.1")
        #expect(!ok)
        ok = b.accept("203.0.113.5")
        #expect(ok)
        // Full: nobody else, until a slot comes back.
        ok = b.accept("192.0.2.9")
        #expect(!ok)
        b.release("198.51.100.1")
        ok = b.accept("192.0.2.9")
        #expect(ok)
        #expect(b.openTotal == 3)
        b.release("unknown source")
        #expect(b.openTotal == 3)
    }
}

/// A real server on loopback: connections over the per-source budget are closed at once, and
/// connections that send no whole request are closed after the idle timeout.
@Suite struct ConnectionLimitTests {
    /// A blocking TCP connection to 127.0.0.1:`port` that reads with a timeout.
    static func connect(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(rc == 0)
        return fd
    }

    /// Whether the server closed `fd` within `seconds` (a read returning 0 or an error). The
    /// wait blocks a thread of its own, not one of the few that every test in the process shares.
    static func closedByServer(_ fd: Int32, within seconds: Double) async -> Bool {
        await withCheckedContinuation { done in
            Thread {
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, Int32(seconds * 1000)) == 1 else { return done.resume(returning: false) }
                var byte: UInt8 = 0
                done.resume(returning: read(fd, &byte, 1) <= 0)
            }.start()
        }
    }

    @Test func overTheBudgetClosedAtOnceIdleClosedAfterTheTimeout() async throws {
        let h = try Harness()
        let port = PortBox()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try h.server.application(
            host: "127.0.0.1", port: 0, limits: .init(perSource: 3, total: 100, idleTimeout: .seconds(3))
        ) { p in port.set(p) }
        let group = ServiceGroup(services: [app, h.server.longPollCloser], logger: logger)
        let serving = Task { try await group.run() }
        while port.get() == nil { try await Task.sleep(for: .milliseconds(20)) }
        let p = port.get()!

        // Three slots: one idle, one with half a request head, one spare.
        let idle = try Self.connect(p)
        let halfHead = try Self.connect(p)
        _ = "GET /healthz HTTP/1.1\r\nHost: x\r\n".withCString { write(halfHead, $0, strlen($0)) }
        let spare = try Self.connect(p)
        try await Task.sleep(for: .milliseconds(200))
        let fourth = try Self.connect(p)
        #expect(await Self.closedByServer(fourth, within: 1), "a fourth connection from one source is closed at once")
        #expect(!(await Self.closedByServer(idle, within: 0.3)), "the first three stay")
        close(fourth)
        close(spare)
        try await Task.sleep(for: .milliseconds(200))
        // A slot is free again: a real request is served.
        let client = try ControllerClient(baseURL: "http://127.0.0.1:\(p)")
        let r = try await client.send(method: "GET", pathAndQuery: "/metrics")
        #expect(r.status == 200)
        #expect(String(decoding: r.body, as: UTF8.self).contains("overlay_connections_refused_total 1"))
        try await client.shutdown()
        // Nothing sent, or a head never finished: closed after the idle timeout (3 s).
        #expect(await Self.closedByServer(idle, within: 5), "an idle connection is closed after the timeout")
        #expect(await Self.closedByServer(halfHead, within: 5), "a half-sent head is closed after the timeout")
        close(idle)
        close(halfHead)

        await group.triggerGracefulShutdown()
        try await serving.value
    }
}
