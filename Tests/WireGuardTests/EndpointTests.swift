import OverlayModel
import Testing

@testable import WireGuard

@Suite struct EndpointTests {
    @Test func parsesIPv4() {
        let e = Endpoint("192.0.2.7:51820")
        #expect(e == Endpoint(address: .v4(IPv4Address("192.0.2.7")!), port: 51820))
        #expect(e?.description == "192.0.2.7:51820")
    }

    @Test func parsesBracketedIPv6() {
        let e = Endpoint("[2001:db8::1]:443")
        #expect(e == Endpoint(address: .v6(IPv6Address("2001:db8::1")!), port: 443))
        #expect(e?.description == "[2001:db8::1]:443")
    }

    @Test func dropsZone() {
        #expect(Endpoint("[fe80::1%eth0]:1")?.description == "[fe80::1]:1")
    }

    @Test(arguments: ["2001:db8::1:443", "[2001:db8::1]", "1.2.3.4", "1.2.3.4:70000", "host:1", "[1.2.3.4]:5", ""])
    func rejects(_ text: String) {
        #expect(Endpoint(text) == nil)
    }
}
