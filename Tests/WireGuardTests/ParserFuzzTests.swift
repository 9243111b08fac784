import Foundation
import Netlink
import OverlayModel
import OverlayTestSupport
import Testing

@testable import WireGuard

/// Bounded runs of the two WireGuard reply parsers on mutated valid replies and on noise: every
/// input ends in a value or a thrown error, never a trap, within about two seconds each.
@Suite struct WireGuardParserFuzzTests {
    func run(iterations: Int, _ body: (Int) throws -> Void) rethrows -> Int {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(2)
        var done = 0
        while done < iterations && clock.now < end {
            try body(done)
            done += 1
        }
        return done
    }

    /// Found by `genericNetlinkDumps`: an endpoint attribute of 2 or 3 bytes read past its end.
    @Test func shortEndpointAttributesNameNoEndpoint() {
        for n in 0..<8 {
            #expect(WireGuardNetlink.endpoint(ArraySlice([UInt8](repeating: 0x0A, count: n))) == nil)
        }
        #expect(WireGuardNetlink.endpoint(ArraySlice([0x0A, 0x00, 0x1F])) == nil)
    }

    @Test func uapiResponses() {
        var rng = SeededRNG(seed: 0x5EED_0101)
        let valid = Array(UAPIResponseTests.twoPeers.utf8)
        #expect((try? UAPI.parseDevice(valid, name: "wg-f"))?.peers.count == 2)
        // Lines a mutation draws from: real keys with broken values, and broken shapes.
        let pieces = [
            "listen_port=99999\n", "allowed_ip=fd00::/129\n", "endpoint=[::1\n", "public_key=zz\n", "errno=\n",
            "last_handshake_time_sec=-1\n", "=\n", "\n", "tx_bytes=18446744073709551616\n", "allowed_ip=1.2.3.4/33\n",
            "persistent_keepalive_interval=65536\n", "endpoint=1.2.3.4:\n", "protocol_version=2\n", "\0",
        ].map { Array($0.utf8) }
        var refused = 0
        let runs = run(iterations: 20_000) { i in
            var bytes = valid
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0...bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes.insert(contentsOf: pieces.randomElement(using: &rng)!, at: at)
                case 1: if at < bytes.count { bytes[at] = UInt8.random(in: 0...255, using: &rng) }
                case 2: bytes = Array(bytes.prefix(at))
                default:
                    bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng)
                    }
                }
            }
            do { _ = try UAPI.parseDevice(bytes, name: "wg-f") } catch is WireGuardError { refused += 1 } catch {
                Issue.record("input \(i): unexpected error type \(error)")
            }
        }
        #expect(runs > 1000, "only \(runs) inputs in the time budget")
        #expect(refused > 0)
    }

    @Test func genericNetlinkDumps() throws {
        var rng = SeededRNG(seed: 0x5EED_0102)
        let change = DeviceChange(
            privateKey: SecretKey(copying: [UInt8](repeating: 0x11, count: 32)), listenPort: 51820, fwmark: 7,
            peers: (0..<4).map { i in
                .add(
                    PeerConfig(
                        publicKey: WireGuardKey(bytes: [UInt8](repeating: UInt8(i + 1), count: 32))!,
                        endpoint: i % 2 == 0 ? Endpoint("192.0.2.\(i + 1):51820") : Endpoint("[2001:db8::\(i)]:51820"),
                        allowedIPs: [IPPrefix("fd00:\(i)::/64")!, IPPrefix("10.\(i).0.0/16")!], persistentKeepalive: 25)
                )
            })
        // SET_DEVICE messages share the dump's layout: valid input for the reply parser.
        let valid = WireGuardNetlink.setDeviceRequests(change, interface: "wg-f", family: 0x1c, limit: 256)
        let messages = try valid.flatMap { try NetlinkMessage.parse($0) }
        #expect(try WireGuardNetlink.parseDevice(messages, interface: "wg-f").peers.count == 4)
        var refused = 0
        let runs = try run(iterations: 20_000) { i in
            var m = messages[i % messages.count]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                guard !m.payload.isEmpty else { break }
                let at = Int.random(in: 0..<m.payload.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: m.payload[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: m.payload = Array(m.payload.prefix(at))
                default:
                    // A length or type field: both are the first half of an aligned word.
                    let i = at & ~3
                    if i + 1 < m.payload.count {
                        m.payload[i] = UInt8.random(in: 0...255, using: &rng)
                        m.payload[i + 1] = UInt8.random(in: 0...1, using: &rng)
                    }
                }
            }
            do { _ = try WireGuardNetlink.parseDevice([m], interface: "wg-f") } catch is WireGuardError {
                refused += 1
            }
            _ = try? WireGuardNetlink.parseDevice([m] + messages, interface: "wg-f")
        }
        #expect(runs > 1000, "only \(runs) inputs in the time budget")
        #expect(refused > 0)
    }
}
