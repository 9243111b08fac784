import Testing
@testable import OverlayAgent

@Suite("Fixed MACs")
struct MACTests {
    @Test("a workload's MAC depends only on its network and host number, and never equals the bridge's")
    func workloadMAC() {
        let a = LinuxKernel.workloadMAC(bridge: "br-f1bdde19", hostLink: "vw-3")
        #expect(a == [0x06, 0xf1, 0xbd, 0, 0, 3])
        #expect(LinuxKernel.workloadMAC(bridge: "br-f1bdde19", hostLink: "vw-3") == a)
        #expect(LinuxKernel.workloadMAC(bridge: "br-f1bdde19", hostLink: "vw-1a2") == [0x06, 0xf1, 0xbd, 0, 0x01, 0xa2])
        #expect(LinuxKernel.workloadMAC(bridge: "br-f1bdde19", hostLink: "vw-4") != a)
        #expect(LinuxKernel.bridgeMAC("br-f1bdde19") != a)
        // Locally administered, unicast.
        #expect(a[0] & 0x02 == 0x02 && a[0] & 0x01 == 0)
    }
}
