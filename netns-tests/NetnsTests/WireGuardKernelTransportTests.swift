import Foundation
import Netlink
import Testing
import WireGuard

/// The kernel backend's transport against the running kernel. This machine's kernel has no
/// WireGuard module, so what can be proven here is the conversation itself (the control family
/// answers through it), the typed errors when WireGuard is absent, and the `auto` choice; the
/// kernel path end to end runs in a VM.
@Suite(.serialized, .enabled(if: getuid() == 0))
struct WireGuardKernelTransportTests {
    @Test func controlFamilyResolvesThroughTheTransport() throws {
        try withNamespaces(1) { ns in
            let transport = try GenericNetlinkSocketTransport(namespace: ns[0])
            // nlctrl is generic netlink's own family, always id 16 (GENL_ID_CTRL).
            #expect(try transport.familyID("nlctrl") == 16)
        }
    }

    @Test func absentWireGuardIsATypedErrorAndAutoPicksUserspace() throws {
        guard !FileManager.default.fileExists(atPath: "/sys/module/wireguard") else { return }
        try withNamespaces(1) { ns in
            let transport = try GenericNetlinkSocketTransport(namespace: ns[0])
            do {
                _ = try transport.familyID("wireguard")
                Issue.record("the wireguard family resolved on a kernel without the module")
            } catch let e as KernelNetlinkError {
                #expect(e.errno == ENOENT)
            }
            #expect(WireGuardBackendKind.auto.resolveOnThisKernel() == .userspace)
            let links = RtnetlinkWireGuardLinks(namespace: ns[0])
            do {
                try links.createWireGuardLink(named: "wg-kt")
                Issue.record("created a kernel wireguard link without the module")
            } catch let e as KernelNetlinkError {
                #expect(e.errno == EOPNOTSUPP, "got \(e)")
            }
            #expect(try links.linkExists(named: "wg-kt") == false)
            try links.deleteLink(named: "wg-kt")  // absent: not an error
            #expect(try links.linkExists(named: "lo"))
        }
    }
}
