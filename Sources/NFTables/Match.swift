import OverlayModel

/// A packet field a rule can look at; each knows how it is loaded and what it depends on.
public enum NFTField: Hashable, Sendable {
    case ip6Saddr, ip6Daddr
    case ipSaddr, ipDaddr
    case tcpDport, tcpSport, udpDport, udpSport
    case l4proto
    case icmpv6Type
    case iifname, oifname

    public var type: NFTDataType {
        switch self {
        case .ip6Saddr, .ip6Daddr: .ipv6Address
        case .ipSaddr, .ipDaddr: .ipv4Address
        case .tcpDport, .tcpSport, .udpDport, .udpSport: .inetService
        case .l4proto: .inetProtocol
        case .icmpv6Type: .icmpv6Type
        case .iifname, .oifname: .interfaceName
        }
    }

    /// The checks that must pass before the load makes sense (an inet table sees IPv4 and
    /// IPv6, TCP and UDP alike): `meta nfproto ipv6`, `meta l4proto tcp`.
    var dependencies: [NFTExpression] {
        switch self {
        case .ip6Saddr, .ip6Daddr:
            Self.nfproto(10)
        case .ipSaddr, .ipDaddr:
            Self.nfproto(2)
        case .tcpDport, .tcpSport:
            Self.l4(.tcp)
        case .udpDport, .udpSport:
            Self.l4(.udp)
        case .icmpv6Type:
            Self.nfproto(10) + Self.l4(.icmpv6)
        case .l4proto, .iifname, .oifname:
            []
        }
    }

    static func nfproto(_ family: UInt8) -> [NFTExpression] {
        [.meta(.nfproto, register: 1), .cmp(register: 1, .eq, [family])]
    }

    static func l4(_ proto: IPProtocolNumber) -> [NFTExpression] {
        [.meta(.l4proto, register: 1), .cmp(register: 1, .eq, [proto.rawValue])]
    }

    func load(into register: UInt32) -> NFTExpression {
        switch self {
        case .ip6Saddr: .payload(.network, offset: 8, length: 16, register: register)
        case .ip6Daddr: .payload(.network, offset: 24, length: 16, register: register)
        case .ipSaddr: .payload(.network, offset: 12, length: 4, register: register)
        case .ipDaddr: .payload(.network, offset: 16, length: 4, register: register)
        case .tcpSport, .udpSport: .payload(.transport, offset: 0, length: 2, register: register)
        case .tcpDport, .udpDport: .payload(.transport, offset: 2, length: 2, register: register)
        case .icmpv6Type: .payload(.transport, offset: 0, length: 1, register: register)
        case .l4proto: .meta(.l4proto, register: register)
        case .iifname: .meta(.iifname, register: register)
        case .oifname: .meta(.oifname, register: register)
        }
    }
}

/// Conntrack states (`ct state`), as the kernel's bit mask.
public struct CTState: OptionSet, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let invalid = CTState(rawValue: 1)
    public static let established = CTState(rawValue: 2)
    public static let related = CTState(rawValue: 4)
    public static let new = CTState(rawValue: 8)
    public static let untracked = CTState(rawValue: 64)
}

/// One condition of a rule.
public enum NFTMatch: Hashable, Sendable {
    /// `FIELD [!=] VALUE`.
    case equal(NFTField, NFTValue, negated: Bool = false)
    /// `FIELD [!=] PREFIX` for address fields.
    case prefix(NFTField, IPPrefix, negated: Bool = false)
    /// `FIELD [. FIELD...] [!=] @SET`: one field, or a concatenation matching the set's type.
    case inSet([NFTField], set: String, negated: Bool = false)
    /// `ct state STATES`: any of them.
    case ctState(CTState)
    /// `fib daddr type local`: the packet is for this namespace's own addresses.
    case fibDaddrLocal
    /// `fib daddr type != local`: the packet is for somewhere else (forwarded).
    case fibDaddrNotLocal
    /// `@th,OFFSET,LEN & MASK == VALUE` (bytes from the transport header, offset in bytes); the
    /// rule must also match the transport protocol.
    case transportBytes(offset: UInt32, mask: [UInt8], equals: [UInt8])
    /// `meta time < INSTANT`: the packet arrived before that wall-clock time (nanoseconds since
    /// the Unix epoch). A rule with it stops matching by itself.
    case before(epochNanoseconds: UInt64)

    // The vocabulary, reading like nft.
    public static func iifname(_ name: String, negated: Bool = false) -> NFTMatch {
        .equal(.iifname, .interface(name), negated: negated)
    }
    public static func oifname(_ name: String, negated: Bool = false) -> NFTMatch {
        .equal(.oifname, .interface(name), negated: negated)
    }
    public static func l4proto(_ p: IPProtocolNumber) -> NFTMatch { .equal(.l4proto, .proto(p)) }
    public static func tcpDport(_ port: UInt16) -> NFTMatch { .equal(.tcpDport, .port(port)) }
    public static func udpDport(_ port: UInt16) -> NFTMatch { .equal(.udpDport, .port(port)) }
    public static func icmpv6Type(_ t: ICMPv6Type) -> NFTMatch { .equal(.icmpv6Type, .icmpv6(t)) }
    public static func ip6Saddr(inSet set: String) -> NFTMatch { .inSet([.ip6Saddr], set: set) }
    public static func ip6Daddr(inSet set: String) -> NFTMatch { .inSet([.ip6Daddr], set: set) }
    public static func ip6Saddr(notIn prefix: IPPrefix) -> NFTMatch { .prefix(.ip6Saddr, prefix, negated: true) }
    public static func ip6Saddr(in prefix: IPPrefix) -> NFTMatch { .prefix(.ip6Saddr, prefix) }
    public static func ipSaddr(notIn prefix: IPPrefix) -> NFTMatch { .prefix(.ipSaddr, prefix, negated: true) }
    public static func ipSaddr(in prefix: IPPrefix) -> NFTMatch { .prefix(.ipSaddr, prefix) }
}

/// The kernel's expressions, one to one (what `nft --debug=netlink` prints). Rules compile to
/// these; the libnftnl layer only transcribes them.
public enum NFTExpression: Hashable, Sendable {
    public enum MetaKey: UInt32, Sendable {
        case l4proto = 16
        case nfproto = 15
        case iifname = 6
        case oifname = 7
        /// Wall-clock time of the packet, nanoseconds since the epoch, 8 bytes in host order.
        case timeNanoseconds = 30
    }

    public enum PayloadBase: UInt32, Sendable {
        case link = 0
        case network = 1
        case transport = 2
    }

    public enum CmpOp: UInt32, Sendable {
        case eq = 0
        case neq = 1
        /// Byte-wise, so a number compares only once in network order (see `hostToNetwork`).
        case lt = 2
    }

    case meta(MetaKey, register: UInt32)
    case payload(PayloadBase, offset: UInt32, length: UInt32, register: UInt32)
    case cmp(register: UInt32, CmpOp, [UInt8])
    case bitwise(register: UInt32, length: UInt32, mask: [UInt8], xor: [UInt8])
    /// `byteorder reg = hton(reg, size, length)`: numbers of `size` bytes in host order to
    /// network order, in place.
    case hostToNetwork(register: UInt32, length: UInt32, size: UInt32)
    /// `ct load state`.
    case ctState(register: UInt32)
    /// `fib daddr type`: the route type of the destination address (RTN_*).
    case fibDaddrType(register: UInt32)
    case lookup(register: UInt32, set: String, inverted: Bool)
    case counter
    case verdict(NFTVerdict)
    /// The `masq` expression.
    case masquerade
    /// The `notrack` expression: conntrack leaves the packet alone.
    case notrack
}

extension NFTRule {
    /// The expressions of this rule. `sets` gives the field types of the table's sets, to check
    /// that lookups match them.
    public func expressions(sets: [String: [NFTDataType]] = [:]) throws(NFTError) -> [NFTExpression] {
        var out: [NFTExpression] = []
        func depend(_ field: NFTField) {
            // Each check once per rule: `meta l4proto tcp` twice would be noise.
            let deps = field.dependencies
            for i in stride(from: 0, to: deps.count, by: 2)
            where !zip(out, out.dropFirst()).contains(where: { $0 == deps[i] && $1 == deps[i + 1] }) {
                out += deps[i..<i + 2]
            }
        }
        for match in matches {
            switch match {
            case .equal(let field, let value, let negated):
                let bytes = value.bytes
                guard bytes.count == field.type.length else {
                    throw NFTError.invalid("\(value) cannot be compared with \(field)")
                }
                depend(field)
                out.append(field.load(into: 1))
                // Interface names ending in `*` compare as a prefix (nft's wildcard).
                if case .interface(let name) = value, name.hasSuffix("*") {
                    out.append(.cmp(register: 1, negated ? .neq : .eq, Array(name.utf8.dropLast())))
                } else {
                    out.append(.cmp(register: 1, negated ? .neq : .eq, bytes))
                }
            case .prefix(let field, let prefix, let negated):
                guard field.type.length * 8 == Int(prefix.address.bitWidth) else {
                    throw NFTError.invalid("\(prefix) cannot be compared with \(field)")
                }
                depend(field)
                out.append(field.load(into: 1))
                let n = field.type.length
                let mask = (0..<n).map { i -> UInt8 in
                    let bits = max(0, min(8, Int(prefix.length) - i * 8))
                    return bits == 0 ? 0 : UInt8(0xFF) << (8 - bits)
                }
                out.append(.bitwise(register: 1, length: UInt32(n), mask: mask, xor: [UInt8](repeating: 0, count: n)))
                out.append(.cmp(register: 1, negated ? .neq : .eq, prefix.masked.address.bytes))
            case .inSet(let fields, let set, let negated):
                guard !fields.isEmpty else { throw NFTError.invalid("lookup in @\(set) without fields") }
                if let types = sets[set], types != fields.map(\.type) {
                    throw NFTError.invalid("@\(set) holds \(types), not \(fields.map(\.type))")
                }
                for field in fields { depend(field) }
                // Concatenations: each field in the next free 32-bit registers, as nft lays them out.
                var register32: UInt32 = 0
                for field in fields {
                    out.append(field.load(into: register32 % 4 == 0 ? 1 + register32 / 4 : 8 + register32))
                    register32 += UInt32(field.type.paddedLength / 4)
                }
                out.append(.lookup(register: 1, set: set, inverted: negated))
            case .ctState(let states):
                out.append(.ctState(register: 1))
                let mask = withUnsafeBytes(of: states.rawValue) { Array($0) }
                out.append(.bitwise(register: 1, length: 4, mask: mask, xor: [0, 0, 0, 0]))
                out.append(.cmp(register: 1, .neq, [0, 0, 0, 0]))
            case .fibDaddrLocal, .fibDaddrNotLocal:
                out.append(.fibDaddrType(register: 1))
                let local = withUnsafeBytes(of: UInt32(2)) { Array($0) }  // RTN_LOCAL
                out.append(.cmp(register: 1, match == .fibDaddrLocal ? .eq : .neq, local))
            case .transportBytes(let offset, let mask, let value):
                guard mask.count == value.count, !mask.isEmpty, mask.count <= 16 else {
                    throw NFTError.invalid("transport bytes: mask and value must have the same length, 1 to 16")
                }
                out.append(.payload(.transport, offset: offset, length: UInt32(mask.count), register: 1))
                out.append(
                    .bitwise(
                        register: 1, length: UInt32(mask.count), mask: mask,
                        xor: [UInt8](repeating: 0, count: mask.count)))
                out.append(.cmp(register: 1, .eq, zip(value, mask).map { $0 & $1 }))
            case .before(let instant):
                // As nft does it: the kernel stores the time in host order, and cmp orders bytes.
                out.append(.meta(.timeNanoseconds, register: 1))
                out.append(.hostToNetwork(register: 1, length: 8, size: 8))
                out.append(.cmp(register: 1, .lt, withUnsafeBytes(of: instant.bigEndian) { Array($0) }))
            }
        }
        if counter { out.append(.counter) }
        switch verdict {
        case .masquerade: out.append(.masquerade)
        case .notrack: out.append(.notrack)
        case let v?: out.append(.verdict(v))
        case nil: break
        }
        return out
    }
}
