import Foundation
import Glibc
import OverlayCrypto
import Testing

@testable import OverlayAgent

/// How fast the agent's requests give up on a replica, against real sockets on loopback: one
/// that refuses connections, and one that takes the connection and never answers (a machine
/// that vanished without a reset looks like this).
@Suite struct ControllerDeadlineTests {
    /// A listening socket that never accepts: the kernel completes the handshake, nobody answers.
    final class SilentListener {
        let fd: Int32
        let port: UInt16

        init() throws {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard s >= 0 else { throw POSIXError(.EMFILE) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Bool in
                    bind(s, p, len) == 0 && listen(s, 16) == 0 && getsockname(s, p, &len) == 0
                }
            }
            guard bound else {
                close(s)
                throw POSIXError(.EADDRINUSE)
            }
            fd = s
            port = UInt16(bigEndian: addr.sin_port)
        }

        deinit { close(fd) }
    }

    static func elapsed(_ work: () async throws -> Void) async -> (Duration, (any Error)?) {
        let start = ContinuousClock.now
        do { try await work() } catch { return (ContinuousClock.now - start, error) }
        return (ContinuousClock.now - start, nil)
    }

    @Test func aSilentReplicaFailsThePollAtItsWaitPlusTheGrace() async throws {
        let silent = try SilentListener()
        let client = try AgentClient(
            baseURL: "http://127.0.0.1:\(silent.port)", identity: Ed25519Identity.generate(), node: "a",
            retryConnecting: false)
        let (took, error) = await Self.elapsed { _ = try await client.plan(after: nil, wait: 1) }
        await client.shutdown()
        let e = try #require(error as? AgentClientError)
        #expect(e.isReplicaDown, "\(e)")
        // wait (1 s) + the grace (3 s); the bound above leaves room for a loaded machine running
        // every suite at once and still tells it from a deadline of wait + 15 s.
        #expect(took >= .seconds(1) + AgentClient.pollGrace, "\(took)")
        #expect(took < .seconds(1) + AgentClient.pollGrace + .seconds(9), "\(took)")
    }

    @Test func aRefusedConnectionFailsAtOnce() async throws {
        // A port that was just free: nothing listens there.
        let port = try SilentListener().port
        let client = try AgentClient(
            baseURL: "http://127.0.0.1:\(port)", identity: Ed25519Identity.generate(), node: "a", retryConnecting: false
        )
        let (took, error) = await Self.elapsed { _ = try await client.plan(after: nil, wait: 60) }
        await client.shutdown()
        let e = try #require(error as? AgentClientError)
        #expect(e.isReplicaDown, "\(e)")
        // At the first refusal, not after retrying connections until the poll's deadline (63 s);
        // alone it takes milliseconds, the bound leaves room for a loaded machine.
        #expect(took < .seconds(20), "\(took)")
    }
}
