import Foundation
import OverlayTestSupport
import Testing

@testable import OverlayModel

@Suite("IPv6Address")
struct IPv6AddressTests {
    /// (input, RFC 5952 canonical output)
    static let roundTrips: [(String, String)] = [
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("fd00::", "fd00::"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:DB8::A", "2001:db8::a"),
        // A single zero group is not compressed (RFC 5952 §4.2.2).
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        // The longest run of zeros is compressed; on a tie, the first one (§4.2.3).
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        // Leading zeros inside a group are dropped, embedded zeros kept.
        ("2001:0db8:0100:0010:0001:1000:0000:0000", "2001:db8:100:10:1:1000::"),
        ("fd12:3456:789a:1::2", "fd12:3456:789a:1::2"),
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("0:0:0:0:0:0:0:0", "::"),
    ]

    @Test("parse and format round trip to RFC 5952 text", arguments: roundTrips)
    func roundTrip(input: String, canonical: String) throws {
        let a = try #require(IPv6Address(input), "'\(input)' should parse")
        #expect(a.description == canonical, "'\(input)' formats as '\(a.description)', expected '\(canonical)'")
        let again = try #require(IPv6Address(a.description))
        #expect(again == a, "re-parsing '\(a.description)' gives another address")
    }

    @Test(
        "invalid text is refused",
        arguments: [
            "", ":", ":::", "1::2::3", "2001:db8::g", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7",
            "fe80::1%eth0", "[::1]", " ::1", "::1 ", "192.0.2.1", "fd00::/64", "2001:db8:::1", "-1::",
        ])
    func invalid(text: String) {
        #expect(IPv6Address(text) == nil, "'\(text)' must not parse as an IPv6 address")
    }

    @Test("halves, bytes and ordering")
    func halvesAndBytes() throws {
        let a = try #require(IPv6Address("fd12:3456:789a:1:0:0:0:2"))
        #expect(a.high == 0xfd12_3456_789a_0001)
        #expect(a.low == 2)
        #expect(a.bytes == [0xfd, 0x12, 0x34, 0x56, 0x78, 0x9a, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2])
        #expect(IPv6Address(bytes: a.bytes) == a)
        #expect(IPv6Address(bytes: [UInt8](repeating: 0, count: 15)) == nil)
        #expect(IPv6Address(bytes: [UInt8](repeating: 0, count: 17)) == nil)
        #expect(IPv6Address("::1")! < IPv6Address("::2")!)
        #expect(IPv6Address("::ffff:ffff:ffff:ffff")! < IPv6Address("0:0:0:1::")!)
    }

    @Test("adding carries into the high half")
    func adding() {
        let a = IPv6Address(high: 1, low: .max)
        #expect(a.adding(1) == IPv6Address(high: 2, low: 0))
        #expect(IPv6Address("fd00::1")!.adding(0xfe) == IPv6Address("fd00::ff")!)
    }

    @Test("random addresses round trip through text and bytes")
    func randomRoundTrip() throws {
        var rng = SeededRNG(seed: 0x5952)
        for _ in 0..<2000 {
            // Make zero groups frequent so that compression paths are exercised.
            var groups = (0..<8).map { _ in UInt16.random(in: 0...0xffff, using: &rng) }
            for i in groups.indices where Bool.random(using: &rng) { groups[i] = 0 }
            let a = IPv6Address(
                high: groups[0..<4].reduce(0) { $0 << 16 | UInt64($1) },
                low: groups[4..<8].reduce(0) { $0 << 16 | UInt64($1) })
            let text = a.description
            #expect(IPv6Address(text) == a, "'\(text)' does not parse back to \(groups)")
            #expect(text == text.lowercased())
            #expect(!text.contains(":::"))
            // A single ':0:' group must never be written as '::'. Count the groups written.
            if text.contains("::") {
                let written = text.split(separator: ":", omittingEmptySubsequences: true).count
                #expect(8 - written >= 2, "'\(text)' compresses a single zero group")
            }
            #expect(IPv6Address(bytes: a.bytes) == a)
        }
    }
}

@Suite("IPv4Address and IPAddress")
struct IPv4AddressTests {
    @Test("dotted quads parse and format", arguments: ["0.0.0.0", "192.0.2.1", "255.255.255.255", "10.1.2.3"])
    func roundTrip(text: String) throws {
        let a = try #require(IPv4Address(text))
        #expect(a.description == text)
        #expect(IPv4Address(bytes: a.bytes) == a)
    }

    @Test(
        "invalid IPv4 text is refused",
        arguments: [
            "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "1.2.3.-4", "a.b.c.d", "1.2.3.4 ", "::1", "1..2.3", "0x1.2.3.4",
        ])
    func invalid(text: String) {
        #expect(IPv4Address(text) == nil, "'\(text)' must not parse as IPv4")
    }

    @Test("value is in host order")
    func value() {
        #expect(IPv4Address("192.0.2.1")!.value == 0xC000_0201)
        #expect(IPv4Address(bytes: [1, 2, 3]) == nil)
    }

    @Test("IPAddress picks the family")
    func family() throws {
        #expect(IPAddress("192.0.2.1") == .v4(IPv4Address("192.0.2.1")!))
        #expect(IPAddress("2001:db8::1") == .v6(IPv6Address("2001:db8::1")!))
        #expect(IPAddress("nope") == nil)
        #expect(IPAddress("192.0.2.1")!.bitWidth == 32)
        #expect(IPAddress("::1")!.bitWidth == 128)
        #expect(IPAddress(bytes: [1, 2, 3, 4]) == .v4(IPv4Address(0x0102_0304)))
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
        #expect(IPAddress(bytes: IPv6Address("fd00::5")!.bytes)?.description == "fd00::5")
    }
}

@Suite("IPPrefix")
struct IPPrefixTests {
    @Test("parse keeps host bits; masked clears them")
    func masked() throws {
        let p = try #require(IPPrefix("fd00:1:2:3::1/64"))
        #expect(p.description == "fd00:1:2:3::1/64")
        #expect(p.masked.description == "fd00:1:2:3::/64")
        #expect(IPPrefix("10.1.2.3/8")!.masked.description == "10.0.0.0/8")
        #expect(IPPrefix("10.1.255.3/20")!.masked.description == "10.1.240.0/20")
        #expect(IPPrefix("fd12:3456:789b:ffff::/47")!.masked.description == "fd12:3456:789a::/47")
        #expect(IPPrefix("1.2.3.4/0")!.masked.description == "0.0.0.0/0")
        #expect(IPPrefix("1.2.3.4/32")!.masked.description == "1.2.3.4/32")
    }

    @Test("a bare address is a host prefix")
    func host() {
        #expect(IPPrefix("fd00::1")?.length == 128)
        #expect(IPPrefix("192.0.2.1")?.length == 32)
        #expect(IPPrefix.host(.v6(IPv6Address("fd00::7")!)).description == "fd00::7/128")
    }

    @Test(
        "invalid prefixes are refused",
        arguments: [
            "fd00::/129", "10.0.0.0/33", "fd00::/", "fd00::/-1", "fd00::/064", "fd00::/+64", "/64", "fd00::/64/1",
            "x/8",
        ])
    func invalid(text: String) {
        #expect(IPPrefix(text) == nil, "'\(text)' must not parse as a prefix")
    }

    @Test("contains is per family and per length")
    func contains() {
        let p = IPPrefix("fd00:1::/32")!
        #expect(p.contains(IPAddress("fd00:1:ffff::1")!))
        #expect(!p.contains(IPAddress("fd00:2::1")!))
        #expect(!p.contains(IPAddress("10.0.0.1")!))
        #expect(IPPrefix("10.0.0.0/8")!.contains(IPAddress("10.255.0.1")!))
        #expect(!IPPrefix("10.0.0.0/8")!.contains(IPAddress("11.0.0.1")!))
        #expect(IPPrefix("::/0")!.contains(IPAddress("2001:db8::1")!))
    }

    @Test("Codable uses the text form and refuses garbage")
    func codable() throws {
        let data = try JSONEncoder().encode([IPPrefix("fd00::1/64")!])
        #expect(String(decoding: data, as: UTF8.self).contains("fd00::1"))
        #expect(try JSONDecoder().decode([IPPrefix].self, from: data) == [IPPrefix("fd00::1/64")!])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([IPPrefix].self, from: Data(#"["fd00::/200"]"#.utf8))
        }
    }
}

@Suite("IPv6Prefix")
struct IPv6PrefixTests {
    @Test(
        "host bits set, too long, or no length are refused",
        arguments: [
            "fd00::1/64", "fd12:3456:789a:1::/48", "fd00::/129", "fd00::", "10.0.0.0/8", "fd00::/64 ",
        ])
    func invalid(text: String) {
        #expect(IPv6Prefix(text) == nil, "'\(text)' must not parse as an IPv6 network prefix")
    }

    @Test("network init masks nothing: host bits make it nil")
    func networkInit() {
        #expect(IPv6Prefix(network: IPv6Address("fd00::")!, length: 8) != nil)
        #expect(IPv6Prefix(network: IPv6Address("fd00::1")!, length: 127) == nil)
        #expect(IPv6Prefix(network: IPv6Address("fd00::1")!, length: 128) != nil)
        #expect(IPv6Prefix(network: IPv6Address("::")!, length: 0) != nil)
        #expect(IPv6Prefix(network: IPv6Address("8000::")!, length: 0) == nil)
        #expect(IPv6Prefix(network: IPv6Address("::")!, length: 129) == nil)
    }

    @Test("contains and overlaps")
    func containsOverlaps() {
        let net = IPv6Prefix("fd12:3456:789a::/48")!
        let sub = IPv6Prefix("fd12:3456:789a:ffff::/64")!
        let other = IPv6Prefix("fd12:3456:789b::/48")!
        #expect(net.contains(sub))
        #expect(!sub.contains(net))
        #expect(net.contains(IPv6Address("fd12:3456:789a:1234:5678::1")!))
        #expect(!net.contains(IPv6Address("fd12:3456:789b::")!))
        #expect(net.overlaps(sub) && sub.overlaps(net))
        #expect(!net.overlaps(other))
        #expect(net.contains(net))
        #expect(AddressPlan.ula.contains(net))
        #expect(!AddressPlan.ula.contains(IPv6Prefix("fc00::/48")!))
        // Mask boundaries at 0, 63, 64, 65 and 128 bits.
        #expect(IPv6Prefix("::/0")!.contains(IPv6Address("ffff::1")!))
        #expect(IPv6Prefix("fd00:0:0:fffe::/63")!.contains(IPv6Address("fd00:0:0:ffff:ffff::")!))
        #expect(!IPv6Prefix("fd00:0:0:fffe::/64")!.contains(IPv6Address("fd00:0:0:ffff::")!))
        #expect(IPv6Prefix("fd00::/65")!.contains(IPv6Address("fd00::7fff:ffff:ffff:ffff")!))
        #expect(!IPv6Prefix("fd00::/65")!.contains(IPv6Address("fd00::8000:0:0:0")!))
        #expect(IPv6Prefix("fd00::5/128")!.contains(IPv6Address("fd00::5")!))
        #expect(!IPv6Prefix("fd00::5/128")!.contains(IPv6Address("fd00::4")!))
    }

    @Test("subnet math")
    func subnets() throws {
        let net = IPv6Prefix("fd12:3456:789a::/48")!
        #expect(net.subnet(0, length: 64)?.description == "fd12:3456:789a::/64")
        #expect(net.subnet(3, length: 64)?.description == "fd12:3456:789a:3::/64")
        #expect(net.subnet(0xffff, length: 64)?.description == "fd12:3456:789a:ffff::/64")
        #expect(net.subnet(0x10000, length: 64) == nil, "a /48 has only 65536 /64s")
        #expect(net.subnet(0, length: 47) == nil, "a subnet cannot be shorter than its parent")
        #expect(net.subnet(0, length: 129) == nil)
        #expect(net.subnet(1, length: 48) == nil, "a /48 has exactly one /48")
        #expect(net.subnet(0, length: 48) == net)
        // Crossing the 64-bit boundary: a /56 split into /72s.
        let p56 = IPv6Prefix("fd00:0:0:ff00::/56")!
        #expect(p56.subnet(0xffff, length: 72)?.description == "fd00:0:0:ffff:ff00::/72")
        // The last /128 of a /64.
        let p64 = IPv6Prefix("fd00:0:0:1::/64")!
        #expect(p64.subnet(.max, length: 128)?.description == "fd00::1:ffff:ffff:ffff:ffff/128")
        #expect(p64.subnet(2, length: 128)?.network == IPv6Address("fd00:0:0:1::2"))
    }

    @Test("random subnets lie inside their parent and do not overlap each other")
    func randomSubnets() throws {
        var rng = SeededRNG(seed: 48_64)
        for _ in 0..<500 {
            let length = UInt8.random(in: 0...120, using: &rng)
            let raw = IPv6Address(high: rng.next(), low: rng.next())
            let parent = try #require(IPv6Prefix(network: IPv6Prefix.mask(raw, length), length: length))
            let newLength = UInt8.random(in: length...min(128, length + 64), using: &rng)
            let bits = Int(newLength - length)
            let limit: UInt64 = bits == 64 ? .max : (UInt64(1) << UInt64(bits)) - 1
            let i = UInt64.random(in: 0...limit, using: &rng)
            let j = UInt64.random(in: 0...limit, using: &rng)
            let a = try #require(parent.subnet(i, length: newLength), "\(parent) subnet \(i)/\(newLength)")
            let b = try #require(parent.subnet(j, length: newLength))
            #expect(parent.contains(a), "\(a) is not inside \(parent)")
            #expect(a.length == newLength)
            #expect((a == b) == (i == j), "\(parent): subnets \(i) and \(j) of length \(newLength) are \(a) and \(b)")
            #expect(a.overlaps(b) == (i == j))
            if bits < 64 {
                #expect(parent.subnet(limit + 1, length: newLength) == nil)
            }
        }
    }

    @Test("ordering and Codable")
    func orderingCodable() throws {
        let a = IPv6Prefix("fd00::/48")!
        let b = IPv6Prefix("fd00::/64")!
        let c = IPv6Prefix("fd00:0:1::/48")!
        #expect([c, b, a].sorted() == [a, b, c])
        let data = try JSONEncoder().encode(a)
        #expect(try JSONDecoder().decode(IPv6Prefix.self, from: data) == a)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(IPv6Prefix.self, from: Data(#""fd00::1/48""#.utf8))
        }
        #expect(a.asIPPrefix.description == "fd00::/48")
    }
}

@Suite("AddressPlan")
struct AddressPlanTests {
    @Test("subnets, router and hosts")
    func plan() {
        let net = IPv6Prefix("fd12:3456:789a::/48")!
        let s = AddressPlan.subnet(net, 0x2a)
        #expect(s.description == "fd12:3456:789a:2a::/64")
        #expect(AddressPlan.routerAddress(s).description == "fd12:3456:789a:2a::1")
        #expect(AddressPlan.host(s, 2).description == "fd12:3456:789a:2a::2")
        #expect(AddressPlan.host(s, 0x1_0000).description == "fd12:3456:789a:2a::1:0")
        #expect(AddressPlan.subnet(net, AddressPlan.accessSubnetID).description == "fd12:3456:789a:ffff::/64")
        #expect(!AddressPlan.nodeSubnetIDs.contains(0))
        #expect(!AddressPlan.nodeSubnetIDs.contains(AddressPlan.accessSubnetID))
    }

    @Test("lowestFree")
    func lowestFree() {
        #expect(AddressPlan.lowestFree(in: 1...5, used: []) == 1)
        #expect(AddressPlan.lowestFree(in: 1...5, used: [1, 2, 4]) == 3)
        #expect(AddressPlan.lowestFree(in: 1...5, used: [1, 2, 3, 4, 5]) == nil)
        #expect(AddressPlan.lowestFree(in: UInt16(0xfffe)...UInt16(0xffff), used: [0xfffe]) == 0xffff)
        #expect(
            AddressPlan.lowestFree(in: UInt16.max...UInt16.max, used: [UInt16.max]) == nil,
            "must stop at the upper bound without overflowing")
    }
}
