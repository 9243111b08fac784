import Foundation
import OverlayModel
import Testing

@Suite("IPv4 address plan")
struct IPv4PlanTests {
    static func p(_ s: String) -> IPv4Prefix { IPv4Prefix(s)! }

    @Test("prefixes: host bits, lengths and text are checked")
    func parsing() {
        #expect(IPv4Prefix("100.64.0.0/16")?.description == "100.64.0.0/16")
        for bad in ["100.64.0.1/16", "100.64.0.0/33", "100.64.0.0", "fd00::/48", "100.64.0.0/", "x/8"] {
            #expect(IPv4Prefix(bad) == nil, "\(bad)")
        }
        #expect(Self.p("10.0.0.0/8").contains(Self.p("10.1.2.0/24")))
        #expect(!Self.p("10.1.2.0/24").contains(Self.p("10.0.0.0/8")))
        #expect(Self.p("10.1.2.0/24").overlaps(Self.p("10.0.0.0/8")))
        #expect(!Self.p("10.0.0.0/8").overlaps(Self.p("11.0.0.0/8")))
        #expect(Self.p("100.64.0.0/16").subnet(3, length: 24) == Self.p("100.64.3.0/24"))
        #expect(Self.p("100.64.0.0/16").subnet(256, length: 24) == nil)
        #expect(Self.p("100.64.3.0/24").host(255)?.description == "100.64.3.255")
        #expect(Self.p("100.64.3.0/24").host(256) == nil)
    }

    @Test("a node's /24 is the one of its subnet number; the first is unused and the last is the access peers'")
    func subnets() {
        let net = Self.p("100.64.0.0/16")
        #expect(AddressPlan.ipv4NodeCapacity(net) == 254)
        #expect(AddressPlan.ipv4Subnet(net, 0) == nil)
        #expect(AddressPlan.ipv4Subnet(net, 1) == Self.p("100.64.1.0/24"))
        #expect(AddressPlan.ipv4Subnet(net, 254) == Self.p("100.64.254.0/24"))
        #expect(AddressPlan.ipv4Subnet(net, 255) == nil)
        #expect(AddressPlan.ipv4AccessSubnet(net) == Self.p("100.64.255.0/24"))
        #expect(AddressPlan.ipv4RouterAddress(Self.p("100.64.7.0/24")).description == "100.64.7.1")
        #expect(AddressPlan.ipv4Host(Self.p("100.64.7.0/24"), 2)?.description == "100.64.7.2")
        #expect(AddressPlan.ipv4Host(Self.p("100.64.7.0/24"), 254)?.description == "100.64.7.254")
        #expect(AddressPlan.ipv4Host(Self.p("100.64.7.0/24"), 255) == nil, ".255 is the bridge's broadcast")
        let small = Self.p("10.20.0.0/22")
        #expect(AddressPlan.ipv4NodeCapacity(small) == 2)
        #expect(AddressPlan.ipv4Subnet(small, 2) == Self.p("10.20.2.0/24"))
        #expect(AddressPlan.ipv4Subnet(small, 3) == nil)
        #expect(AddressPlan.ipv4AccessSubnet(small) == Self.p("10.20.3.0/24"))
        // Every node /24 and the access /24 lie inside the prefix and never overlap.
        let all = (1...254).compactMap { AddressPlan.ipv4Subnet(net, UInt16($0)) } + [AddressPlan.ipv4AccessSubnet(net)]
        #expect(Set(all).count == 255 && all.allSatisfy { net.contains($0) })
    }

    @Test("the default prefix: the least used /16 of 100.64.0.0/10, the lowest among equals")
    func defaultPrefix() {
        #expect(AddressPlan.defaultIPv4Prefix(used: []) == Self.p("100.64.0.0/16"))
        #expect(AddressPlan.defaultIPv4Prefix(used: [Self.p("100.64.0.0/16")]) == Self.p("100.65.0.0/16"))
        // A given prefix inside a /16 of the pool makes that /16 used.
        #expect(
            AddressPlan.defaultIPv4Prefix(used: [Self.p("100.64.0.0/16"), Self.p("100.65.8.0/22")])
                == Self.p("100.66.0.0/16"))
        // All 63 taken once (100.127.0.0/16 is the transfer links'): shared again from the lowest.
        let once = (0..<63).map { Self.p("100.\(64 + $0).0.0/16") }
        #expect(AddressPlan.defaultIPv4Prefix(used: once) == Self.p("100.64.0.0/16"))
        #expect(AddressPlan.defaultIPv4Prefix(used: once + [Self.p("100.64.0.0/16")]) == Self.p("100.65.0.0/16"))
    }

    @Test(
        "user-given prefixes: private, /8 to /22, host bits zero",
        arguments: ["10.0.0.0/8", "10.20.0.0/16", "172.16.0.0/12", "192.168.4.0/22", "100.100.0.0/16"])
    func accepted(_ text: String) throws {
        #expect(try Network.validateIPv4Prefix(text).description == text)
    }

    @Test(
        "refused prefixes name the value and what is allowed",
        arguments: [
            "8.8.0.0/16", "10.0.0.0/23", "10.0.0.0/7", "10.0.0.1/16", "192.168.0.0/15", "fd00::/48", "",
            "100.128.0.0/16", "100.127.0.0/16", "100.96.0.0/11",
        ])
    func refused(_ text: String) {
        let e = #expect(throws: ValidationError.self) { try Network.validateIPv4Prefix(text) }
        #expect(e?.field == "ipv4 prefix")
        #expect(e?.description.contains("'\(text)'") == true)
        #expect(e?.allowed.contains("10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10") == true)
    }

    @Test("a network document without IPv4 or egress reads as IPv6-only and sealed")
    func oldNetworkDocument() throws {
        let json = #"{"name":"n","id":"0a1b2c3d","prefix":"fd00:1:2::/48","mtu":1420}"#
        let n = try JSONDecoder().decode(Network.self, from: Data(json.utf8))
        #expect(n.ipv4Prefix == nil && !n.egress)
    }
}
