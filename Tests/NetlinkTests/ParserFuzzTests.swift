import Foundation
import OverlayModel
import OverlayTestSupport
import Testing

@testable import Netlink

/// Mutations of a valid buffer: flipped bytes, cut tails, overwritten lengths, inserted junk.
func mutate(_ bytes: [UInt8], _ rng: inout SeededRNG) -> [UInt8] {
    var b = bytes
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        guard !b.isEmpty else { break }
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        case 1: b.removeLast(Int.random(in: 0...min(b.count, 12), using: &rng))
        case 2:
            // A length field (every 2-byte aligned offset can be one) set to something extreme.
            let i = Int.random(in: 0..<b.count, using: &rng) & ~1
            if i + 1 < b.count {
                let v: UInt16 = [0, 1, 3, 4, 0xFFFF, UInt16(b.count), UInt16(b.count + 4)].randomElement(using: &rng)!
                b[i] = UInt8(v & 0xFF)
                b[i + 1] = UInt8(v >> 8)
            }
        case 3:
            b.insert(
                contentsOf: (0..<4).map { _ in UInt8.random(in: 0...255, using: &rng) },
                at: Int.random(in: 0...b.count, using: &rng))
        default:
            b.append(
                contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            )
        }
    }
    return b
}

/// Runs `body` until `iterations` or the time budget, whichever comes first (unit tests stay fast).
func fuzz(iterations: Int, budget: Duration = .seconds(2), _ body: (Int) throws -> Void) rethrows -> Int {
    let clock = ContinuousClock()
    let end = clock.now + budget
    var done = 0
    while done < iterations && clock.now < end {
        try body(done)
        done += 1
    }
    return done
}

@Suite struct ParserFuzzTests {
    /// Walks every level an attribute could hold, as a reader that trusts nothing would.
    func walk(_ attributes: Attributes, depth: Int = 0) -> Int {
        var n = attributes.all.count
        guard depth < 4 else { return n }
        for (_, value) in attributes.all {
            n += walk(Attributes(value), depth: depth + 1)
            _ = try? Attributes(validating: value)
            _ = Attributes.exact(value, as: UInt32.self)
        }
        return n
    }

    func validMessages() -> [[UInt8]] {
        var link = MessageBuilder(type: .newLink, flags: [.request, .create])
        link.append(contentsOf: [UInt8](repeating: 0, count: 16))  // ifinfomsg
        link.attribute(LinkAttribute.ifname, string: "br-0a0b0c0d")
        link.attribute(LinkAttribute.mtu, UInt32(1420))
        link.nested(LinkAttribute.linkInfo) { info in
            info.attribute(LinkInfoAttribute.kind, string: "veth")
            info.nested(LinkInfoAttribute.data) { data in data.attribute(LinkAttribute.ifname, string: "vw-2") }
        }
        var genl = GenericNetlink.message(family: MessageType(0x1c), command: 1, version: 1, flags: [.request, .ack])
        let peers = genl.beginNested(LinkAttribute.mtu)
        for i in 0..<3 {
            let peer = genl.beginNested(LinkAttribute.ifname)
            genl.attribute(LinkAttribute.ifname, bytes: [UInt8](repeating: UInt8(i), count: 32))
            genl.attribute(LinkAttribute.mtu, UInt64(i))
            genl.endNested(peer)
        }
        genl.endNested(peers)
        return [link.message, genl.message, link.message + genl.message]
    }

    @Test func randomBuffersNeverTrap() {
        var rng = SeededRNG(seed: 0x5EED_0001)
        var parsed = 0
        var refused = 0
        let runs = fuzz(iterations: 20_000) { _ in
            let bytes = (0..<Int.random(in: 0...96, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do {
                for m in try NetlinkMessage.parse(bytes) {
                    _ = m.errorCode
                    _ = m.extendedAckMessage
                    parsed += walk(Attributes(m.payload))
                }
            } catch let e as NetlinkError {
                #expect(e.errno == .EBADMSG)
                refused += 1
            } catch {
                Issue.record("unexpected error type \(error)")
            }
            parsed += walk(Attributes(bytes))
        }
        #expect(runs > 1000, "only \(runs) inputs in the time budget")
        #expect(refused > 0 && parsed > 0)
    }

    @Test func mutatedMessagesNeverTrap() {
        var rng = SeededRNG(seed: 0x5EED_0002)
        let valid = validMessages()
        // The unmutated messages parse whole, every level validating.
        for v in valid {
            let messages = try? NetlinkMessage.parse(v)
            #expect(messages?.isEmpty == false)
        }
        var refused = 0
        let runs = fuzz(iterations: 20_000) { i in
            let bytes = mutate(valid[i % valid.count], &rng)
            do {
                for m in try NetlinkMessage.parse(bytes) { _ = walk(Attributes(m.payload)) }
            } catch {
                refused += 1
            }
            do { _ = try Attributes(validating: bytes[...]) } catch let e as NetlinkError {
                #expect(e.errno == .EBADMSG)
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        #expect(runs > 1000, "only \(runs) inputs in the time budget")
        #expect(refused > 0)
    }

    // The nftables read-back is not fuzzed in-process: it hands replies to libnftnl, which
    // aborts the process (its `abi_breakage()` / `nftnl_assert`) on a reply shaped other than
    // the kernel's, dropped attributes included. The Swift side guards every string it reads.
}
