import Foundation
import OverlayTestSupport
import Testing

@testable import OverlayModel

/// Runs `body`, expects a `ValidationError`, and checks that its text names the value and says what
/// is allowed.
func expectRejected(
    _ value: String, field: String, allowedMentions: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Any
) {
    do {
        let result = try body()
        Issue.record("'\(value)' was accepted as \(field) (gave \(result))", sourceLocation: sourceLocation)
    } catch let e as ValidationError {
        #expect(e.field == field, "field of \(e)", sourceLocation: sourceLocation)
        #expect(e.value == value, "value of \(e)", sourceLocation: sourceLocation)
        #expect(
            e.description.contains("'\(Quote.bounded(value))'"), "'\(e)' does not quote the value",
            sourceLocation: sourceLocation)
        #expect(
            e.description.contains(allowedMentions), "'\(e)' does not say '\(allowedMentions)'",
            sourceLocation: sourceLocation)
    } catch {
        Issue.record(
            "'\(value)': expected a ValidationError, got \(type(of: error)): \(error)",
            sourceLocation: sourceLocation)
    }
}

@Suite("WireGuardKey and SecretKey")
struct KeyTests {
    static let bytes: [UInt8] = (0..<32).map { UInt8($0 * 7 + 1) }

    @Test("base64 and hex round trips")
    func roundTrips() throws {
        let k = try #require(WireGuardKey(bytes: Self.bytes))
        #expect(k.base64.count == 44)
        #expect(k.base64 == Data(Self.bytes).base64EncodedString())
        #expect(WireGuardKey(base64: k.base64) == k)
        #expect(k.hex.count == 64)
        #expect(k.hex == k.hex.lowercased())
        #expect(k.hex.hasPrefix("01080f16"))
        #expect(WireGuardKey(hex: k.hex) == k)
        #expect(WireGuardKey(hex: k.hex.uppercased()) == k)
        #expect(k.description == k.base64)
        let data = try JSONEncoder().encode([k])
        #expect(try JSONDecoder().decode([WireGuardKey].self, from: data) == [k])
    }

    @Test("random keys round trip")
    func randomRoundTrips() throws {
        var rng = SeededRNG(seed: 25519)
        for _ in 0..<300 {
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let k = try #require(WireGuardKey(bytes: bytes))
            #expect(WireGuardKey(base64: k.base64)?.bytes == bytes)
            #expect(WireGuardKey(hex: k.hex)?.bytes == bytes)
            let s = try #require(SecretKey(base64: k.base64))
            #expect(s.base64 == k.base64)
            #expect(s.hex == k.hex)
        }
    }

    @Test("wrong lengths and bad text are refused")
    func rejects() {
        #expect(WireGuardKey(bytes: Array(Self.bytes.prefix(31))) == nil)
        #expect(WireGuardKey(bytes: Self.bytes + [0]) == nil)
        #expect(WireGuardKey(bytes: []) == nil)
        let b64 = Data(Self.bytes).base64EncodedString()
        #expect(WireGuardKey(base64: Data(Self.bytes.prefix(31)).base64EncodedString()) == nil, "31 bytes")
        #expect(WireGuardKey(base64: Data(Self.bytes + [9]).base64EncodedString()) == nil, "33 bytes")
        #expect(WireGuardKey(base64: String(b64.dropLast())) == nil, "43 characters")
        #expect(WireGuardKey(base64: b64 + "=") == nil, "45 characters")
        #expect(WireGuardKey(base64: "!" + b64.dropFirst()) == nil, "not base64")
        #expect(WireGuardKey(base64: "") == nil)
        let hex = WireGuardKey(bytes: Self.bytes)!.hex
        #expect(WireGuardKey(hex: String(hex.dropLast(2))) == nil, "31 bytes of hex")
        #expect(WireGuardKey(hex: hex + "00") == nil, "33 bytes of hex")
        #expect(WireGuardKey(hex: "zz" + hex.dropFirst(2)) == nil, "not hex")
        #expect(WireGuardKey(hex: "+1" + hex.dropFirst(2)) == nil, "a sign is not a hex digit")
        #expect(WireGuardKey(hex: "-0" + hex.dropFirst(2)) == nil, "a sign is not a hex digit")
        #expect(WireGuardKey(hex: " 1" + hex.dropFirst(2)) == nil)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([WireGuardKey].self, from: Data(#"["AAAA"]"#.utf8))
        }
        #expect(SecretKey(base64: "short") == nil)
    }

    @Test("SecretKey copies, compares and wipes its own buffer only")
    func secretKey() {
        var source = Self.bytes
        let s = SecretKey(copying: source)
        source[0] = 0xff
        #expect(s.withBytes { Array($0) } == Self.bytes, "the key must own a copy")
        #expect(s == SecretKey(copying: Self.bytes))
        #expect(s != SecretKey(copying: source))
        #expect(s != SecretKey(copying: Self.bytes.prefix(16)))
        #expect(SecretKey(count: 32).withBytes { $0.allSatisfy { $0 == 0 } })
        #expect(s.count == 32)
    }
}

@Suite("Names")
struct NamesTests {
    static let labelAllowed = "1-63 characters of a-z, 0-9 and '-'"

    @Test("labels accepted", arguments: ["a", "0", "web-1", "a--b", String(repeating: "x", count: 63)])
    func labelOK(value: String) throws {
        #expect(try Names.label(value, field: "node name") == value)
    }

    @Test(
        "labels refused",
        arguments: [
            "", "-a", "a-", "Web", "a_b", "a.b", "a b", "é", "web/1", String(repeating: "x", count: 64),
        ])
    func labelBad(value: String) {
        expectRejected(value, field: "node name", allowedMentions: Self.labelAllowed) {
            try Names.label(value, field: "node name")
        }
    }

    @Test("fqdns accepted and lowercased")
    func fqdnOK() throws {
        #expect(try Names.fqdn("example.com", field: "domain") == "example.com")
        #expect(try Names.fqdn("Apps.Example.COM", field: "domain") == "apps.example.com")
        #expect(try Names.fqdn("a-1.b2.io", field: "domain") == "a-1.b2.io")
        #expect(try Names.fqdn("1.example.com", field: "domain") == "1.example.com")
    }

    @Test(
        "fqdns refused",
        arguments: [
            "", "com", "example..com", "example.com.", ".example.com", "*.example.com", "example.123", "1.2.3.4",
            "exa_mple.com", "-a.example.com", "a-.example.com",
            String(repeating: "a.", count: 127) + "com",  // 257 characters
            String(repeating: "x", count: 64) + ".com",
        ])
    func fqdnBad(value: String) {
        expectRejected(value, field: "domain", allowedMentions: "a DNS name of at least two dot-separated labels") {
            try Names.fqdn(value, field: "domain")
        }
    }

    @Test("netns names", arguments: ["wl-web", "A_b.c", "x", String(repeating: "n", count: 64)])
    func netnsOK(value: String) throws {
        #expect(try Names.netns(value) == value)
    }

    @Test(
        "netns names refused",
        arguments: ["", ".", "..", "-x", "a/b", "a b", "ns\n", String(repeating: "n", count: 65)])
    func netnsBad(value: String) {
        expectRejected(value, field: "netns", allowedMentions: "1-64 characters of letters, digits") {
            try Names.netns(value, field: "netns")
        }
    }

    @Test("tags", arguments: ["eu-west_1", "a", String(repeating: "r", count: 32)])
    func tagOK(value: String) throws {
        #expect(try Names.tag(value, field: "region") == value)
    }

    @Test("tags refused", arguments: ["", "EU", "eu west", "eu.west", String(repeating: "r", count: 33)])
    func tagBad(value: String) {
        expectRejected(value, field: "region", allowedMentions: "1-32 characters of a-z, 0-9, '-' and '_'") {
            try Names.tag(value, field: "region")
        }
    }
}

@Suite("Ports and endpoints")
struct PortTests {
    @Test("port specs")
    func portSpecOK() throws {
        #expect(try PortSpec(parsing: "tcp/80") == PortSpec(proto: .tcp, port: 80))
        #expect(try PortSpec(parsing: "UDP/53") == PortSpec(proto: .udp, port: 53))
        #expect(try PortSpec(parsing: "tcp/65535").port == 65535)
        #expect(PortSpec(proto: .udp, port: 53).description == "udp/53")
        #expect(
            [PortSpec(proto: .udp, port: 1), PortSpec(proto: .tcp, port: 9), PortSpec(proto: .tcp, port: 2)].sorted()
                == [PortSpec(proto: .tcp, port: 2), PortSpec(proto: .tcp, port: 9), PortSpec(proto: .udp, port: 1)])
    }

    @Test("bad protocols refused", arguments: ["sctp/1", "tcp80", "tcp/80/1", "/80", ""])
    func portSpecBadProto(value: String) {
        expectRejected(value, field: "port", allowedMentions: "PROTO/PORT with PROTO tcp or udp") {
            try PortSpec(parsing: value)
        }
    }

    @Test("bad port numbers refused", arguments: ["0", "65536", "080", "+80", "-1", "", "8o", " 80"])
    func portBad(value: String) {
        expectRejected(value, field: "port", allowedMentions: "a port number from 1 to 65535") {
            try PortSpec(parsing: "tcp/" + value)
        }
        expectRejected(value, field: "backend port", allowedMentions: "a port number from 1 to 65535") {
            try PortSpec.port(value, field: "backend port")
        }
    }

    @Test("port ranges")
    func portRanges() throws {
        #expect(try Node.parsePortRange("51820-52819") == 51820...52819)
        #expect(try Node.parsePortRange("1-1") == 1...1)
        #expect(try Node.parsePortRange("65535-65535") == 65535...65535)
    }

    @Test(
        "bad port ranges refused",
        arguments: [
            "0-10", "10-5", "1-65536", "abc", "1-", "-5", "1-2-3", "01-5", "51820", "", " 1-2", "+1-2",
        ])
    func portRangesBad(value: String) {
        expectRejected(value, field: "listen ports", allowedMentions: "FROM-TO with 1 <= FROM <= TO <= 65535") {
            try Node.parsePortRange(value)
        }
    }

    @Test(
        "endpoints",
        arguments: [
            ("192.0.2.1:51820", "192.0.2.1:51820"),
            ("[2001:db8::1]:51820", "[2001:db8::1]:51820"),
            ("[2001:DB8:0::1]:1", "[2001:db8::1]:1"),
        ])
    func endpointOK(text: String, canonical: String) throws {
        let e = try #require(Endpoint(text), "'\(text)' should parse")
        #expect(e.description == canonical)
        #expect(Endpoint(e.description) == e)
        let data = try JSONEncoder().encode([e])
        #expect(try JSONDecoder().decode([Endpoint].self, from: data) == [e])
    }

    @Test(
        "bad endpoints refused",
        arguments: [
            "192.0.2.1", "2001:db8::1:51820", "[2001:db8::1]51820", "[192.0.2.1]:1", "host:1", "1.2.3.4:0",
            "1.2.3.4:65536", "[2001:db8::1]:", "[2001:db8::1", ":80", "1.2.3.4:-1", "",
        ])
    func endpointBad(text: String) {
        #expect(Endpoint(text) == nil, "'\(text)' must not parse as an endpoint")
    }
}

@Suite("Network and Node validation")
struct NetworkNodeTests {
    static let prefixAllowed = "an IPv6 /48 inside fd00::/8 with host bits zero"

    @Test("ULA /48s accepted", arguments: ["fd12:3456:789a::/48", "fd00::/48", "fdff:ffff:ffff::/48"])
    func prefixOK(text: String) throws {
        #expect(try Network.validatePrefix(text).description == text)
    }

    @Test(
        "other prefixes refused",
        arguments: [
            "fd12:3456:789a::/47", "fd12:3456:789a::/64", "fc00::/48", "2001:db8::/48", "fd12:3456:789a::1/48",
            "fd12:3456:789a:1::/48", "garbage", "fd12:3456:789a::", "10.0.0.0/8", "",
        ])
    func prefixBad(text: String) {
        expectRejected(text, field: "prefix", allowedMentions: Self.prefixAllowed) { try Network.validatePrefix(text) }
    }

    @Test("MTU bounds")
    func mtu() throws {
        #expect(try Network.validateMTU(1280) == 1280)
        #expect(try Network.validateMTU(9000) == 9000)
        #expect(try Network.validateMTU(Network.defaultMTU) == 1420)
        for bad in [1279, 9001, 0, -1] {
            expectRejected(String(bad), field: "mtu", allowedMentions: "an integer from 1280 to 9000") {
                try Network.validateMTU(bad)
            }
        }
    }

    @Test("network ids")
    func ids() throws {
        #expect(try Network.validateID("0a1b2c3d") == "0a1b2c3d")
        for bad in ["0A1B2C3D", "0a1b2c3", "0a1b2c3d4", "0a1b2c3g", ""] {
            expectRejected(bad, field: "network id", allowedMentions: "8 lowercase hex characters") {
                try Network.validateID(bad)
            }
        }
        let n = Network(name: "n", id: "0a1b2c3d", prefix: IPv6Prefix("fd00::/48")!)
        #expect(n.namespaceName == "ovl-0a1b2c3d")
        #expect(n.interfaceName == "wg-0a1b2c3d")
        #expect(n.bridgeName == "br-0a1b2c3d")
        #expect(n.mtu == 1420)
    }

    @Test("identities")
    func identities() throws {
        let key = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        #expect(try Node.parseIdentity(key) == (0..<32).map { UInt8($0) })
        for bad in [Data(count: 31).base64EncodedString(), Data(count: 33).base64EncodedString(), "not base64", ""] {
            expectRejected(bad, field: "identity", allowedMentions: "an Ed25519 public key: 32 bytes in base64") {
                try Node.parseIdentity(bad)
            }
        }
    }

    @Test("public addresses accepted", arguments: ["192.0.2.1", "8.8.8.8", "10.0.0.1", "2001:db8::1", "2a01:4f8::2"])
    func publicOK(text: String) throws {
        #expect(try Node.parsePublicAddress(text).description == text)
    }

    @Test(
        "non-public addresses refused",
        arguments: [
            "127.0.0.1", "0.0.0.0", "169.254.1.1", "224.0.0.1", "239.1.1.1", "255.255.255.255", "::1", "::",
            "fe80::1", "febf::1", "ff02::1", "fd00::1", "fc00::1", "not-an-ip", "192.0.2.1:80", "",
        ])
    func publicBad(text: String) {
        expectRejected(
            text, field: "public address", allowedMentions: "not loopback, link-local, multicast, unspecified or ULA"
        ) {
            try Node.parsePublicAddress(text)
        }
    }

    @Test("hidden means no public address")
    func hidden() {
        #expect(Node(name: "a", identity: []).isHidden)
        #expect(!Node(name: "a", identity: [], publicAddresses: [IPAddress("192.0.2.1")!]).isHidden)
    }

    @Test("gateway routes name their host")
    func gatewayRoute() {
        let r = GatewayRoute(name: "r", node: "gw", match: .name("app"), backends: [.init(workload: "web", port: 80)])
        #expect(r.hostName(domain: "example.com") == "app.example.com")
        #expect(r.hostName(domain: nil) == nil)
        #expect(
            GatewayRoute(name: "r", node: "gw", match: .fqdn("a.b.c"), backends: []).hostName(domain: "x.y") == "a.b.c")
        #expect(GatewayRoute(name: "r", node: "gw", match: .udp(53), backends: []).hostName(domain: "x.y") == nil)
        #expect(GatewayRoute(name: "r", node: "gw", match: .udp(53), backends: []).backendProto == .udp)
        #expect(r.backendProto == .tcp)
        #expect(r.backends[0].description == "web:80")
        #expect(Workload.defaultNamespace(for: "web") == "wl-web")
    }
}
