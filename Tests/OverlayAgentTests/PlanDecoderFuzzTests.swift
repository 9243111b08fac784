import Foundation
import OverlayCrypto
import OverlayPlanner
import OverlayProtocol
import OverlayTestSupport
import Testing

@testable import OverlayAgent

/// Seeded mutations of a valid signed plan, through the path a controller's answer takes in the
/// agent: the envelope decoded from JSON, then `PlanGate.open`. Nothing may crash or hang; every
/// refusal is one of the agent's own errors with a message, or a decoding error; a mutated
/// envelope never yields a plan other than the signed one. Bounded in count and in time.
@Suite struct PlanDecoderFuzzTests {
    static let seed: UInt64 = 0x0F1A_2B3C_4D5E_6F70
    static let maxCases = 1500
    static let timeBudget: Duration = .milliseconds(900)

    let controller = Ed25519Identity.generate()
    let plan = Fixtures.plan(
        [Fixtures.network(), Fixtures.network("crm", id: "1a1b1c1d", net: "fd00:9:8", port: 51821)], revision: 7)

    var gate: PlanGate { PlanGate(pinnedKey: controller.publicKey, node: plan.node) }

    func planJSON() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(plan))
    }

    /// One to three edits: bit flips, JSON punctuation, cut or doubled ranges, truncation, huge or
    /// negative numbers, deep nesting, a very long string.
    static func mutate(_ input: [UInt8], using rng: inout SeededRNG) -> [UInt8] {
        var b = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !b.isEmpty else { return b }
            let i = Int.random(in: 0..<b.count, using: &rng)
            let len = min(Int.random(in: 1...24, using: &rng), b.count - i)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: b[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: b[i] = (Array(#"{}[]",:-0123456789.eEtrufalsn\ "#.utf8) + [0, 0xFF]).randomElement(using: &rng)!
            case 2: b.removeSubrange(i..<(i + len))
            case 3: b.insert(contentsOf: b[i..<(i + len)], at: i)
            case 4: b.removeSubrange(i...)
            case 5:
                let n = ["99999999999999999999999", "-1", "1e400", "0.5", "-0", "9223372036854775808"]
                b.insert(contentsOf: Array(n.randomElement(using: &rng)!.utf8), at: i)
            case 6:
                let depth = Int.random(in: 100...2000, using: &rng)
                b.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "["), count: depth), at: i)
            default: b.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "x"), count: 10_000), at: i)
            }
        }
        return b
    }

    /// A refusal must be the gate's (with a message) or the decoder's; nothing else.
    static func checkRefusal(_ error: any Error, case n: Int, resigned: Bool) {
        switch error {
        case let r as PlanGate.Refusal:
            #expect(!r.description.isEmpty, "case \(n)")
            if resigned, case .envelope(let f) = r {
                // Signed with the pinned key for this node: only the content can be wrong.
                switch f {
                case .malformed(let why): #expect(why.hasPrefix("plan JSON: "), "case \(n): \(why)")
                case .mismatch: break
                case .badSignature, .wrongNode: Issue.record("case \(n): a correctly signed plan refused as \(f)")
                }
            }
        case is DecodingError:
            #expect(!resigned, "case \(n): the envelope was not mutated, yet it did not decode: \(error)")
        default:
            Issue.record("case \(n): unexpected error \(type(of: error)): \(error)")
        }
    }

    @Test func mutatedEnvelopesAreRefusedOrUnchanged() throws {
        let signed = SignedPlan.sign(
            planJSON: try planJSON(), node: plan.node, revision: plan.revision, with: controller)
        let envelope = Array(try JSONEncoder().encode(signed))
        #expect(try gate.open(JSONDecoder().decode(SignedPlan.self, from: Data(envelope)), applied: nil) == plan)
        var rng = SeededRNG(seed: Self.seed)
        let clock = ContinuousClock()
        let start = clock.now
        var n = 0
        while n < Self.maxCases && clock.now - start < Self.timeBudget {
            n += 1
            let bytes = Self.mutate(envelope, using: &rng)
            do {
                let opened = try gate.open(JSONDecoder().decode(SignedPlan.self, from: Data(bytes)), applied: nil)
                // Only an edit that left the signed bytes alone (whitespace, a duplicate key...) passes.
                #expect(opened == plan, "case \(n): a mutated envelope opened to another plan")
            } catch {
                Self.checkRefusal(error, case: n, resigned: false)
            }
        }
        #expect(n >= 100, "only \(n) cases in \(Self.timeBudget)")
    }

    @Test func mutatedPlansSignedByTheControllerAreDecodedOrRefusedClearly() throws {
        let json = try planJSON()
        var rng = SeededRNG(seed: Self.seed ^ 0xFFFF)
        let clock = ContinuousClock()
        let start = clock.now
        var n = 0
        while n < Self.maxCases && clock.now - start < Self.timeBudget {
            n += 1
            let bytes = Self.mutate(json, using: &rng)
            let signed = SignedPlan.sign(planJSON: bytes, node: plan.node, revision: plan.revision, with: controller)
            do {
                let opened = try gate.open(signed, applied: nil)
                // Decoded: it must still be a plan for this node at the signed revision.
                #expect(opened.node == plan.node && opened.revision == plan.revision, "case \(n)")
            } catch {
                Self.checkRefusal(error, case: n, resigned: true)
            }
        }
        #expect(n >= 100, "only \(n) cases in \(Self.timeBudget)")
    }
}
