import Foundation
import Glibc
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import OverlayProtocol
import Testing
import WireGuard

@testable import OverlayAgent

/// The agent's side of the controller protocol, without a network: which plans it accepts, how it
/// backs off, what it reports, and what it keeps about the controller on disk.
@Suite struct PlanGateTests {
    let controller = Ed25519Identity.generate()

    func signed(_ plan: NodePlan, by key: Ed25519Identity? = nil, node: String? = nil) throws -> SignedPlan {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return SignedPlan.sign(
            planJSON: Array(try encoder.encode(plan)), node: node ?? plan.node, revision: plan.revision,
            with: key ?? controller)
    }

    var gate: PlanGate { PlanGate(pinnedKey: controller.publicKey, node: "a") }

    @Test func acceptsANewerPlanSignedWithThePinnedKey() throws {
        let plan = Fixtures.plan(revision: 7)
        #expect(try gate.open(try signed(plan), applied: 6) == plan)
        #expect(try gate.open(try signed(plan), applied: nil) == plan)
    }

    @Test func refusesAPlanSignedWithAnotherKey() throws {
        let other = Ed25519Identity.generate()
        #expect(throws: PlanGate.Refusal.envelope(.badSignature)) {
            try gate.open(try signed(Fixtures.plan(revision: 7), by: other), applied: 6)
        }
    }

    @Test func refusesAForgedPlan() throws {
        // A valid signature over one plan, with the plan body swapped for another.
        var s = try signed(Fixtures.plan(revision: 7))
        var forged = Fixtures.plan(revision: 7)
        forged.networks[0].peers.append(
            Fixtures.peer("evil", 9, allowed: "fd00:1:2:9::/64", endpoint: "203.0.113.9:51820"))
        s.plan = Data(try JSONEncoder().encode(forged)).base64EncodedString()
        #expect(throws: PlanGate.Refusal.envelope(.badSignature)) { try gate.open(s, applied: 6) }
        // A corrupted signature.
        var t = try signed(Fixtures.plan(revision: 7))
        t.signature = Data(repeating: 1, count: 64).base64EncodedString()
        #expect(throws: PlanGate.Refusal.envelope(.badSignature)) { try gate.open(t, applied: 6) }
    }

    @Test func refusesAPlanForAnotherNode() throws {
        var plan = Fixtures.plan(revision: 7)
        plan.node = "b"
        #expect(throws: PlanGate.Refusal.envelope(.wrongNode("b", expected: "a"))) {
            try gate.open(try signed(plan), applied: 6)
        }
        // The envelope relabelled to this node: the signature covers the node, so it fails.
        var s = try signed(plan)
        s.node = "a"
        #expect(throws: PlanGate.Refusal.envelope(.badSignature)) { try gate.open(s, applied: 6) }
    }

    @Test func refusesAStaleOrRepeatedRevision() throws {
        #expect(throws: PlanGate.Refusal.stale(5, applied: 6)) {
            try gate.open(try signed(Fixtures.plan(revision: 5)), applied: 6)
        }
        #expect(throws: PlanGate.Refusal.stale(6, applied: 6)) {
            try gate.open(try signed(Fixtures.plan(revision: 6)), applied: 6)
        }
    }

    @Test func refusesAnEnvelopeThatDisagreesWithItsPlan() throws {
        var s = try signed(Fixtures.plan(revision: 7))
        s.revision = 99
        #expect(throws: PlanGate.Refusal.self) { try gate.open(s, applied: 6) }
        let e = #expect(throws: PlanGate.Refusal.self) { try gate.open(s, applied: 6) }
        #expect("\(e!)".contains("a@99"))
    }

    @Test func refusesAnOlderPlanVersion() throws {
        // A version-1 plan knows nothing of IPv4: applying it would tear the IPv4 half down.
        var plan = Fixtures.plan(revision: 7)
        plan.version = 1
        let e = #expect(throws: PlanGate.Refusal.unsupportedVersion(1)) { try gate.open(try signed(plan), applied: 6) }
        #expect("\(e!)" == "plan version 1; this agent reads version 3; plan refused")
    }

    @Test func refusesAnUnknownPlanVersion() throws {
        var plan = Fixtures.plan(revision: 7)
        plan.version = NodePlan.currentVersion + 1
        #expect(throws: PlanGate.Refusal.unsupportedVersion(NodePlan.currentVersion + 1)) {
            try gate.open(try signed(plan), applied: 6)
        }
    }
}

@Suite struct BackoffTests {
    @Test func doublesFromHalfASecondUpToThirtySeconds() {
        let b = Backoff()
        let ceilings = (1...10).map { b.ceiling(after: $0) }
        #expect(
            ceilings == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30),
                .seconds(30), .seconds(30), .seconds(30),
            ])
        #expect(b.ceiling(after: 1000) == .seconds(30))
    }

    @Test func jitterStaysWithinHalfToFullDelay() {
        var low = Backoff()
        var high = Backoff()
        for n in 1...8 {
            let ceiling = low.ceiling(after: n)
            #expect(low.next(unit: 0) == ceiling / 2)
            #expect(high.next(unit: 1) == ceiling)
        }
        var random = Backoff()
        for n in 1...20 {
            let d = random.next()
            #expect(d >= random.ceiling(after: n) / 2 && d <= random.ceiling(after: n))
        }
    }

    @Test func resetStartsOver() {
        var b = Backoff()
        for _ in 1...5 { _ = b.next(unit: 1) }
        #expect(b.failures == 5)
        b.reset()
        #expect(b.next(unit: 1) == .milliseconds(500))
    }
}

@Suite struct StatusReportTests {
    @Test func reportsEveryPeerFromTheDeviceReadBack() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_100)
        let plan = Fixtures.plan(revision: 4)
        let net = plan.networks[0]
        let device = Device(
            name: net.interface, publicKey: net.publicKey, listenPort: net.listenPort,
            peers: [
                Device.Peer(
                    config: PeerConfig(publicKey: Fixtures.key(3)), lastHandshake: nil, rxBytes: 0, txBytes: 148),
                Device.Peer(
                    config: PeerConfig(publicKey: Fixtures.key(2)),
                    lastHandshake: Date(timeIntervalSince1970: 1_700_000_058.7), rxBytes: 1024, txBytes: 2048),
            ])
        let s = AgentStatus(
            plan: plan, appliedRevision: 4, devices: [net.interface: device], errors: [], wireguard: "userspace",
            now: now)
        #expect(s.appliedRevision == 4)
        #expect(s.wireguard == "userspace")
        #expect(s.errors.isEmpty)
        #expect(s.networks.count == 1)
        #expect(s.networks[0].network == "shop")
        #expect(s.networks[0].interface == "wg-0a0b0c0d")
        #expect(
            s.networks[0].peers == [
                AgentStatus.Peer(publicKey: Fixtures.key(2).base64, handshakeAge: 41, rxBytes: 1024, txBytes: 2048),
                AgentStatus.Peer(publicKey: Fixtures.key(3).base64, handshakeAge: nil, rxBytes: 0, txBytes: 148),
            ])
        // Round-trips as the controller reads it.
        let back = try JSONDecoder().decode(AgentStatus.self, from: JSONEncoder().encode(s))
        #expect(back == s)
    }

    @Test func aNetworkWithoutDeviceIsReportedWithoutPeers() {
        let plan = Fixtures.plan(revision: 4)
        let s = AgentStatus(
            plan: plan, appliedRevision: nil, devices: [:], errors: ["read back wg-0a0b0c0d: gone"], wireguard: "kernel"
        )
        #expect(s.appliedRevision == nil)
        #expect(s.networks.map(\.peers) == [[]])
        #expect(s.errors == ["read back wg-0a0b0c0d: gone"])
    }
}

@Suite struct ControllerLinkTests {
    func tempDir() -> String {
        let dir = NSTemporaryDirectory() + "overlay-agent-test-" + SecureRandom.hex(6)
        return dir
    }

    @Test func joinRecordIsKeptPrivateAndReadBack() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(path: dir)
        #expect(try state.controllerLink() == nil)
        let key = Ed25519Identity.generate().publicKeyBase64
        let link = ControllerLink(url: "http://192.0.2.10:7800", node: "a", controllerKey: key)
        try state.saveControllerLink(link)
        var st = stat()
        #expect(stat(dir + "/controller.json", &st) == 0)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(try state.controllerLink() == link)
        #expect(try PlanGate(link: link).pinnedKey == Array(Data(base64Encoded: key)!))
        #expect(!FileManager.default.fileExists(atPath: dir + "/controller.json.tmp"))
    }

    @Test func aDamagedJoinRecordIsAnErrorNotANewPin() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(path: dir)
        try state.saveControllerLink(ControllerLink(url: "http://192.0.2.10:7800", node: "a", controllerKey: "AAAA"))
        #expect(throws: StateDirectoryError.self) { try state.controllerLink() }
        FileManager.default.createFile(atPath: dir + "/controller.json", contents: Data("{".utf8))
        #expect(throws: StateDirectoryError.self) { try state.controllerLink() }
    }

    @Test func aRecordWrittenWithOneURLReadsAsOneReplicaAndSeveralAreKeptInOrder() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let state = StateDirectory(path: dir)
        let key = Ed25519Identity.generate().publicKeyBase64
        // As an agent that knew one controller wrote it.
        try state.createDirectory()
        let old = #"{"controllerKey":"\#(key)","node":"a","url":"http://192.0.2.10:7800"}"#
        try state.writeSecret(SecretKey(copying: Data(old.utf8)), to: dir + "/controller.json")
        let read = try #require(try state.controllerLink())
        #expect(read.urls == ["http://192.0.2.10:7800"])
        #expect(read == ControllerLink(url: "http://192.0.2.10:7800", node: "a", controllerKey: key))
        let two = ControllerLink(
            urls: ["http://192.0.2.10:7800", "http://192.0.2.11:7800"], node: "a", controllerKey: key)
        try state.saveControllerLink(two)
        #expect(try state.controllerLink() == two)
        #expect(try state.controllerLink()?.url == "http://192.0.2.10:7800")
        // A record whose list does not start with its url was not written by the agent.
        let odd = #"{"controllerKey":"\#(key)","node":"a","url":"http://x:1","urls":["http://y:1"]}"#
        try state.writeSecret(SecretKey(copying: Data(odd.utf8)), to: dir + "/controller.json")
        #expect(throws: StateDirectoryError.self) { try state.controllerLink() }
    }

    @Test func replicaURLsComeRepeatedOrCommaSeparatedEachOnce() throws {
        #expect(
            try ControllerLink.validateURLs(["http://a:1,http://b:1/", " http://c:1"]) == [
                "http://a:1", "http://b:1", "http://c:1",
            ])
        #expect(try ControllerLink.validateURLs([]) == [])
        let e = #expect(throws: ValidationError.self) {
            try ControllerLink.validateURLs(["http://a:1", "http://a:1/"])
        }
        #expect(e?.allowed == "each replica named once")
        #expect(throws: ValidationError.self) { try ControllerLink.validateURLs(["http://a:1,"]) }
        #expect(throws: ValidationError.self) { try ControllerLink.validateURLs(["http://a:1,ftp://b"]) }
    }

    @Test func controllerURLsAreChecked() throws {
        #expect(try ControllerLink.validateURL("http://192.0.2.10:7800") == "http://192.0.2.10:7800")
        #expect(try ControllerLink.validateURL("https://ctl.example:443/") == "https://ctl.example:443")
        #expect(try ControllerLink.validateURL("http://[2001:db8::1]:7800") == "http://[2001:db8::1]:7800")
        for bad in [
            "", "192.0.2.10:7800", "ftp://x", "http://", "http://u:p@x:1", "http://x:1/api", "http://x:1?a=b",
            "http://x:0",
        ] {
            let e = #expect(throws: ValidationError.self, "\(bad)") { try ControllerLink.validateURL(bad) }
            #expect("\(e.map { "\($0)" } ?? "")".contains("http://HOST[:PORT]"))
        }
    }
}

@Suite struct PlanInboxTests {
    @Test func aPostedPlanWakesTheWaiterAndOnlyTheNewestIsKept() throws {
        let inbox = try PlanInbox()
        #expect(inbox.take() == nil)
        #expect(!inbox.wait(timeoutMilliseconds: 0))
        inbox.post(Fixtures.plan(revision: 3))
        inbox.post(Fixtures.plan(revision: 5))
        inbox.post(Fixtures.plan(revision: 4))
        #expect(inbox.wait(timeoutMilliseconds: 0))
        #expect(inbox.take()?.revision == 5)
        #expect(!inbox.wait(timeoutMilliseconds: 0))
        #expect(inbox.take() == nil)
    }

    @Test func aPlanPostedFromAnotherThreadWakesAPollAtOnce() throws {
        let inbox = try PlanInbox()
        let start = ContinuousClock.now
        Thread.detachNewThread {
            usleep(50_000)
            inbox.post(Fixtures.plan(revision: 9))
        }
        #expect(inbox.wait(timeoutMilliseconds: 5_000))
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(inbox.take()?.revision == 9)
    }
}
