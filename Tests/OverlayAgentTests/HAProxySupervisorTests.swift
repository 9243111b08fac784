import Foundation
import Glibc
import OverlayGateway
import Testing

@testable import OverlayAgent

/// The supervisor with the real HAProxy, on loopback: a good configuration starts it, a change
/// reloads the same master and is confirmed when it returns, a configuration HAProxy rejects or
/// cannot load never replaces the good one, and a master that dies is started again.
@Suite("HAProxy supervisor", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy")))
struct HAProxySupervisorTests {
    static func config(port: Int, body: String, paths: GatewayPaths) -> String {
        """
        global
            master-worker
            stats socket \(paths.adminSocket) mode 600 level admin expose-fd listeners
        defaults
            mode http
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend test
            bind 127.0.0.1:\(port)
            http-request return status 200 content-type text/plain string "\(body)"

        """
    }

    static func get(_ port: Int) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0 else { return nil }
        let req = "GET / HTTP/1.0\r\n\r\n"
        _ = req.withCString { write(fd, $0, strlen($0)) }
        var buf = [UInt8](repeating: 0, count: 4096)
        var out = [UInt8]()
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        let text = String(decoding: out, as: UTF8.self)
        return text.components(separatedBy: "\r\n\r\n").last
    }

    /// A listening TCP socket on a free loopback port, standing for another program's.
    static func listen() -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = Glibc.listen(fd, 4)
        _ = withUnsafeMutablePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (fd, Int(UInt16(bigEndian: a.sin_port)))
    }

    static func waitFor(_ port: Int, _ body: String) -> Bool {
        for _ in 0..<100 {
            if get(port) == body { return true }
            usleep(50_000)
        }
        return false
    }

    @Test("start, reload, refuse a bad configuration, restart after a crash")
    func lifecycle() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "hx-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = GatewayPaths(directory: dir)
        let port = Int.random(in: 20000...40000)
        let sup = HAProxySupervisor(paths: paths, executable: "/usr/sbin/haproxy")
        defer { _ = sup.stop() }

        let first = Self.config(port: port, body: "one", paths: paths)
        #expect(try sup.apply(config: first, namespaces: [:])?.hasPrefix("haproxy started") == true)
        // Confirmed by the master: serving as soon as apply returns.
        #expect(Self.get(port) == "one")
        let master = sup.pid
        #expect(try sup.apply(config: first, namespaces: [:]) == nil)

        let second = Self.config(port: port, body: "two", paths: paths)
        #expect(try sup.apply(config: second, namespaces: [:])?.hasPrefix("haproxy reloaded") == true)
        // The old workers have closed their listeners when apply returns: no answer from "one".
        for _ in 0..<5 { #expect(Self.get(port) == "two") }
        #expect(sup.pid == master)

        // A port taken by someone else: `haproxy -c` passes, the load fails at bind time. An
        // error, the old workers keep serving, and haproxy.cfg stays what they run.
        let taken = Self.listen()
        defer { close(taken.fd) }
        let clash = second + "frontend clash\n    bind 127.0.0.1:\(taken.port)\n    http-request return status 200\n"
        #expect(throws: HAProxySupervisor.NotLoaded.self) { try sup.apply(config: clash, namespaces: [:]) }
        #expect(try String(contentsOfFile: paths.config, encoding: .utf8) == second)
        #expect(Self.get(port) == "two")
        #expect(sup.pid == master && sup.isRunning)
        // Not tried again at once; the same failure is reported.
        #expect(throws: HAProxySupervisor.NotLoaded.self) { try sup.apply(config: clash, namespaces: [:]) }
        #expect(try sup.apply(config: second, namespaces: [:]) == nil)

        // A keyword HAProxy does not know: rejected, the running file and process unchanged.
        let bad = second + "backend broken\n    frobnicate yes\n"
        #expect(throws: HAProxySupervisor.Rejected.self) { try sup.apply(config: bad, namespaces: [:]) }
        #expect(try String(contentsOfFile: paths.config, encoding: .utf8) == second)
        #expect(Self.get(port) == "two")
        #expect(sup.pid == master)

        // The master dies: the next apply starts it again with the last good configuration.
        kill(master!, SIGKILL)
        usleep(200_000)
        #expect(!sup.isRunning)
        #expect(try sup.apply(config: second, namespaces: [:])?.hasPrefix("haproxy started") == true)
        #expect(Self.waitFor(port, "two"))
        #expect(sup.stop() != nil)
        #expect(Self.get(port) == nil)
    }
}
