import Netlink
import OverlayModel

/// A set key field type, with nftables' datatype number (so `nft list` prints `type ...`) and
/// its length in the key.
public struct NFTDataType: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    /// nftables' `enum datatypes` number.
    public var id: UInt32
    public var length: Int

    public static let ipv4Address = NFTDataType(name: "ipv4_addr", id: 7, length: 4)
    public static let ipv6Address = NFTDataType(name: "ipv6_addr", id: 8, length: 16)
    public static let inetProtocol = NFTDataType(name: "inet_proto", id: 12, length: 1)
    public static let inetService = NFTDataType(name: "inet_service", id: 13, length: 2)
    public static let icmpv6Type = NFTDataType(name: "icmpv6_type", id: 29, length: 1)
    public static let interfaceName = NFTDataType(name: "ifname", id: 41, length: 16)

    public var description: String { name }

    static let all: [NFTDataType] = [
        .ipv4Address, .ipv6Address, .inetProtocol, .inetService, .icmpv6Type, .interfaceName,
    ]

    /// Each concatenated field occupies whole 32-bit registers.
    var paddedLength: Int { (length + 3) & ~3 }
}

/// One typed value: a set element field or a comparison operand.
public enum NFTValue: Hashable, Sendable, CustomStringConvertible {
    case address(IPAddress)
    case port(UInt16)
    case proto(IPProtocolNumber)
    case icmpv6(ICMPv6Type)
    case interface(String)

    /// Appends `bytes` without building an intermediate array (the 10,000-element hot path).
    func append(to key: inout [UInt8]) {
        switch self {
        case .address(.v6(let a)):
            for shift in stride(from: 56, through: 0, by: -8) {
                key.append(UInt8(truncatingIfNeeded: a.high >> UInt64(shift)))
            }
            for shift in stride(from: 56, through: 0, by: -8) {
                key.append(UInt8(truncatingIfNeeded: a.low >> UInt64(shift)))
            }
        case .address(.v4(let a)):
            for shift in stride(from: 24, through: 0, by: -8) {
                key.append(UInt8(truncatingIfNeeded: a.value >> UInt32(shift)))
            }
        case .port(let p):
            key.append(UInt8(p >> 8))
            key.append(UInt8(p & 0xFF))
        default:
            key += bytes
        }
    }

    /// Network byte order, exactly `type.length` bytes (interface names NUL-padded).
    public var bytes: [UInt8] {
        switch self {
        case .address(let a): a.bytes
        case .port(let p): [UInt8(p >> 8), UInt8(p & 0xFF)]
        case .proto(let p): [p.rawValue]
        case .icmpv6(let t): [t.rawValue]
        case .interface(let n): Array((Array(n.utf8.prefix(15)) + [UInt8](repeating: 0, count: 16)).prefix(16))
        }
    }

    public var description: String {
        switch self {
        case .address(let a): a.description
        case .port(let p): String(p)
        case .proto(let p): String(p.rawValue)
        case .icmpv6(let t): String(t.rawValue)
        case .interface(let n): "\"\(n)\""
        }
    }

    /// Decodes one field of a key read back from the kernel.
    static func decode(_ bytes: ArraySlice<UInt8>, as type: NFTDataType) -> NFTValue? {
        let b = Array(bytes.prefix(type.length))
        guard b.count == type.length else { return nil }
        switch type {
        case .ipv4Address, .ipv6Address: return IPAddress(bytes: b).map(NFTValue.address)
        case .inetService: return .port(UInt16(b[0]) << 8 | UInt16(b[1]))
        case .inetProtocol: return .proto(IPProtocolNumber(rawValue: b[0]))
        case .icmpv6Type: return .icmpv6(ICMPv6Type(rawValue: b[0]))
        case .interfaceName: return .interface(String(decoding: b.prefix { $0 != 0 }, as: UTF8.self))
        default: return nil
        }
    }
}

/// IP protocol numbers (`meta l4proto`).
public struct IPProtocolNumber: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let icmp = IPProtocolNumber(rawValue: 1)
    public static let tcp = IPProtocolNumber(rawValue: 6)
    public static let udp = IPProtocolNumber(rawValue: 17)
    public static let icmpv6 = IPProtocolNumber(rawValue: 58)
}

/// ICMPv6 types IPv6 cannot work without, and echo.
public struct ICMPv6Type: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let destinationUnreachable = ICMPv6Type(rawValue: 1)
    public static let packetTooBig = ICMPv6Type(rawValue: 2)
    public static let timeExceeded = ICMPv6Type(rawValue: 3)
    public static let parameterProblem = ICMPv6Type(rawValue: 4)
    public static let echoRequest = ICMPv6Type(rawValue: 128)
    public static let echoReply = ICMPv6Type(rawValue: 129)
    public static let routerSolicit = ICMPv6Type(rawValue: 133)
    public static let routerAdvert = ICMPv6Type(rawValue: 134)
    public static let neighborSolicit = ICMPv6Type(rawValue: 135)
    public static let neighborAdvert = ICMPv6Type(rawValue: 136)
}

/// A named set. `fields` has one type, or several for a concatenation (`ipv6_addr . inet_service`).
public struct NFTSet: Hashable, Sendable {
    public enum Element: Hashable, Sendable {
        /// One value per field.
        case values([NFTValue])
        /// A prefix (interval sets of a single address field).
        case prefix(IPPrefix)
    }

    public var name: String
    public var fields: [NFTDataType]
    /// Interval sets hold prefixes; only single-field address sets here.
    public var interval: Bool
    public var elements: [Element]

    public init(name: String, fields: [NFTDataType], interval: Bool = false, elements: [Element] = []) {
        self.name = name
        self.fields = fields
        self.interval = interval
        self.elements = elements
    }

    public static func single(_ name: String, _ type: NFTDataType, _ values: [NFTValue]) -> NFTSet {
        NFTSet(name: name, fields: [type], elements: values.map { .values([$0]) })
    }

    /// Set flags (NFT_SET_*). NFT_SET_CONCAT is not set: the kernel wants it only together with
    /// per-field lengths (interval concatenations), and a hash of the whole key needs neither.
    var flags: UInt32 { interval ? 0x4 : 0 }

    /// nftables encodes a concatenation's type as the field ids packed 6 bits apart.
    var keyType: UInt32 { fields.reduce(0) { $0 << 6 | $1.id } }

    var keyLength: Int {
        fields.count == 1 ? fields[0].length : fields.reduce(0) { $0 + $1.paddedLength }
    }

    /// The kernel's view of the elements: key bytes and flags. Interval sets become the
    /// start/end-marker pairs the rbtree backend expects (end = first address after the range).
    public func encodedElements() throws(NFTError) -> [(key: [UInt8], flags: UInt32)] {
        var out: [(key: [UInt8], flags: UInt32)] = []
        try forEachEncodedElement { key, flags in out.append((Array(key), flags)) }
        return out
    }

    /// Calls `body` with each element's key bytes (valid only during the call) and flags.
    func forEachEncodedElement(_ body: (UnsafeRawBufferPointer, UInt32) -> Void) throws(NFTError) {
        if interval {
            for (key, flags) in try intervalElements() { key.withUnsafeBytes { body($0, flags) } }
            return
        }
        var key: [UInt8] = []
        key.reserveCapacity(keyLength)
        for element in elements {
            guard case .values(let values) = element, values.count == fields.count else {
                throw NFTError.invalid("set \(name): element \(element) does not match \(fields)")
            }
            key.removeAll(keepingCapacity: true)
            for (value, type) in zip(values, fields) {
                let start = key.count
                value.append(to: &key)
                guard key.count - start == type.length else {
                    throw NFTError.invalid("set \(name): \(value) is not a \(type)")
                }
                if fields.count > 1 {
                    for _ in type.length..<type.paddedLength { key.append(0) }
                }
            }
            key.withUnsafeBytes { body($0, 0) }
        }
    }

    private func intervalElements() throws(NFTError) -> [(key: [UInt8], flags: UInt32)] {
        guard fields.count == 1, fields[0] == .ipv4Address || fields[0] == .ipv6Address else {
            throw NFTError.invalid("set \(name): interval sets hold prefixes of one address type")
        }
        var ranges: [(start: [UInt8], end: [UInt8]?)] = []
        for element in elements {
            let prefix: IPPrefix
            switch element {
            case .prefix(let p): prefix = p
            case .values(let v):
                guard v.count == 1, case .address(let a) = v[0] else {
                    throw NFTError.invalid("set \(name): \(element) is not an address")
                }
                prefix = .host(a)
            }
            guard prefix.address.bitWidth == UInt8(fields[0].length * 8) else {
                throw NFTError.invalid("set \(name): \(prefix) is not a \(fields[0])")
            }
            let start = prefix.masked.address.bytes
            ranges.append((start, Self.increment(Self.lastAddress(prefix))))
        }
        ranges.sort { $0.start.lexicographicallyPrecedes($1.start) }
        var out: [(key: [UInt8], flags: UInt32)] = []
        // Like nft: close the gap below the first range explicitly.
        if let first = ranges.first, first.start.contains(where: { $0 != 0 }) {
            out.append(([UInt8](repeating: 0, count: first.start.count), 1))
        }
        for range in ranges {
            out.append((range.start, 0))
            if let end = range.end { out.append((end, 1)) }
        }
        return out
    }

    static func lastAddress(_ p: IPPrefix) -> [UInt8] {
        var b = p.masked.address.bytes
        for i in 0..<b.count {
            let bit = i * 8
            if bit >= Int(p.length) {
                b[i] = 0xFF
            } else if bit + 8 > Int(p.length) {
                b[i] |= UInt8(0xFF) >> (Int(p.length) - bit)
            }
        }
        return b
    }

    /// nil when the range ends at the top of the address space.
    static func increment(_ bytes: [UInt8]) -> [UInt8]? {
        var b = bytes
        for i in b.indices.reversed() {
            if b[i] == 0xFF {
                b[i] = 0
            } else {
                b[i] += 1
                return b
            }
        }
        return nil
    }
}

/// Errors of the table description itself (caught before anything is sent).
public enum NFTError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalid(String)

    public var description: String {
        switch self {
        case .invalid(let s): "invalid nftables table: \(s)"
        }
    }
}
