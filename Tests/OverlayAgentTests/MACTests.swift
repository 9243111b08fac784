import OverlayPlanner
import Testing

@Suite("Fixed MACs")
struct MACTests {
    @Test("a workload's MAC depends only on its network and host number, and never equals the bridge's")
    func workloadMAC() {
        let n = Fixtures.network(id: "f1bdde19")
        func host(_ name: String, _ hex: String) -> WorkloadPlan {
            WorkloadPlan(
                name: name, address: Fixtures.v6("fd00:1:2:1::\(hex)"), namespace: "wl-\(name)",
                hostInterface: "vw-\(hex)", exposed: [])
        }
        let a = host("web", "3").mac(in: n)
        #expect(a == [0x06, 0xf1, 0xbd, 0, 0, 3])
        #expect(host("other", "3").mac(in: n) == a)
        #expect(host("web", "1a2").mac(in: n) == [0x06, 0xf1, 0xbd, 0, 0x01, 0xa2])
        #expect(host("web", "4").mac(in: n) != a)
        #expect(n.bridgeMAC == [0x02, 0xf1, 0xbd, 0xde, 0x19, 0x01])
        #expect(n.bridgeMAC != a)
        // Locally administered, unicast.
        #expect(a[0] & 0x02 == 0x02 && a[0] & 0x01 == 0)
    }
}
