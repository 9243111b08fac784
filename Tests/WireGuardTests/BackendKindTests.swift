import Testing

@testable import WireGuard

@Suite struct BackendKindTests {
    @Test func explicitKindsStay() {
        #expect(WireGuardBackendKind.kernel.resolve(sysModulePath: "/nonexistent") == .kernel)
        #expect(WireGuardBackendKind.userspace.resolve(sysModulePath: "/") == .userspace)
    }

    @Test func autoPicksKernelWhenModulePresent() {
        #expect(WireGuardBackendKind.auto.resolve(sysModulePath: "/") == .kernel)
        #expect(WireGuardBackendKind.auto.resolve(sysModulePath: "/nonexistent") == .userspace)
        #expect(WireGuardBackendKind.auto.resolve(sysModulePath: "/nonexistent", familyResolves: { true }) == .kernel)
    }

    @Test func interfaceNames() throws {
        try WireGuardError.validate("wg-0123abcd")
        for bad in ["", "a/b", "sixteen-chars-xx", "a b", "a:b", ".."] {
            #expect(throws: WireGuardError.invalidInterfaceName(bad)) { try WireGuardError.validate(bad) }
        }
    }
}
