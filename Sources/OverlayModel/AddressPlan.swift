/// The address plan (docs/address-plan.md): /48 per network, /64 per node, ::1 the router,
/// workloads from ::2, subnet ffff for access peers.
public enum AddressPlan {
    public static let ula = IPv6Prefix("fd00::/8")!
    public static let accessSubnetID: UInt16 = 0xffff
    /// Node subnets are 1...0xfffe; 0 is left unused so no node owns the network's first /64.
    public static let nodeSubnetIDs: ClosedRange<UInt16> = 1...0xfffe
    /// Host numbers handed to workloads and access peers; 1 is the router.
    public static let firstHostNumber: UInt64 = 2

    public static func subnet(_ network: IPv6Prefix, _ id: UInt16) -> IPv6Prefix {
        network.subnet(UInt64(id), length: 64)!
    }

    public static func routerAddress(_ subnet: IPv6Prefix) -> IPv6Address {
        subnet.network.adding(1)
    }

    public static func host(_ subnet: IPv6Prefix, _ number: UInt64) -> IPv6Address {
        subnet.network.adding(number)
    }

    /// Lowest number not in `used`, from `range`.
    public static func lowestFree<T: FixedWidthInteger>(in range: ClosedRange<T>, used: Set<T>) -> T? {
        var n = range.lowerBound
        while true {
            if !used.contains(n) { return n }
            if n == range.upperBound { return nil }
            n += 1
        }
    }
}

/// The IPv4 half of the plan (docs/address-plan.md): a private prefix per network, /24 number
/// `subnetID` of it for each member node (the same number as its IPv6 /64, so one allocation
/// serves both families), the prefix's last /24 for access peers, `.1` the router and host
/// numbers shared with IPv6 (a workload's `::5` is also its `.5`).
extension AddressPlan {
    /// Shared address space (RFC 6598): carrier-grade NAT uses it between the carrier and the
    /// customer's router, so it is on no LAN a node or a laptop sits on.
    public static let defaultIPv4Pool = IPv4Prefix("100.64.0.0/10")!
    public static let defaultIPv4Length: UInt8 = 16
    public static let ipv4SubnetLength: UInt8 = 24
    /// A /22 holds four /24s: the unused first, two nodes and the access peers.
    public static let ipv4Lengths: ClosedRange<UInt8> = 8...22
    /// `.255` is the bridge's broadcast address.
    public static let maxIPv4HostNumber: UInt64 = 254
    /// Where a network's IPv4 prefix may lie: RFC 1918 and RFC 6598 space.
    public static let privateIPv4: [IPv4Prefix] = [
        IPv4Prefix("10.0.0.0/8")!, IPv4Prefix("172.16.0.0/12")!, IPv4Prefix("192.168.0.0/16")!, defaultIPv4Pool,
    ]

    /// How many member nodes an IPv4 prefix holds: its /24s less the unused first and the access one.
    public static func ipv4NodeCapacity(_ network: IPv4Prefix) -> Int {
        Int(network.count(of: ipv4SubnetLength) ?? 2) - 2
    }

    /// The /24 of the node with `subnetID`; nil when the prefix has no /24 for that number.
    public static func ipv4Subnet(_ network: IPv4Prefix, _ subnetID: UInt16) -> IPv4Prefix? {
        guard subnetID >= 1, Int(subnetID) <= ipv4NodeCapacity(network) else { return nil }
        return network.subnet(UInt64(subnetID), length: ipv4SubnetLength)
    }

    /// The prefix's last /24, for access peers.
    public static func ipv4AccessSubnet(_ network: IPv4Prefix) -> IPv4Prefix {
        let n = network.count(of: ipv4SubnetLength) ?? 1
        return network.subnet(n - 1, length: ipv4SubnetLength)!
    }

    public static func ipv4RouterAddress(_ subnet: IPv4Prefix) -> IPv4Address {
        subnet.host(1)!
    }

    /// Host `number` of a /24; nil above `.254`.
    public static func ipv4Host(_ subnet: IPv4Prefix, _ number: UInt64) -> IPv4Address? {
        guard number >= 1, number <= maxIPv4HostNumber else { return nil }
        return subnet.host(number)
    }

    /// The network namespaces' ends of the egress transfer links: `100.127.0.0` + the network's
    /// listen port on the node, unique per node as listen ports are. Kept out of every network.
    public static let transferIPv4 = IPv4Prefix("100.127.0.0/16")!
    /// The host's end of every transfer link (link-local, the same on each: a /32 per link).
    public static let transferGateway = IPv4Address("169.254.1.1")!

    public static func transferAddress(listenPort: UInt16) -> IPv4Address {
        IPv4Address(transferIPv4.network.value + UInt32(listenPort))
    }

    /// The IPv6 ends of the transfer links, for NAT66: the network namespace's is this /64 + the
    /// listen port (the host routes the network's /48 to it), the host's `transferGateway6` on
    /// every link. A ULA range of its own, outside every network's /48 by the chance of a random
    /// 40-bit global ID.
    public static let transferIPv6 = IPv6Prefix("fd6f:7678:6665::/64")!
    public static let transferGateway6 = IPv6Address("fd6f:7678:6665::1:0")!

    public static func transferAddress6(listenPort: UInt16) -> IPv6Address {
        transferIPv6.network.adding(UInt64(listenPort))
    }

    /// The default prefix of a new network: the /16 of `defaultIPv4Pool` that the fewest
    /// networks use, the lowest among equals, leaving out `transferIPv4` (its last /16). Distinct
    /// for the first 63 networks; after that they share, which their separate namespaces allow.
    public static func defaultIPv4Prefix(used: [IPv4Prefix]) -> IPv4Prefix {
        let n = defaultIPv4Pool.count(of: defaultIPv4Length)! - 1
        var best: (count: Int, prefix: IPv4Prefix)?
        for i in 0..<n {
            let p = defaultIPv4Pool.subnet(i, length: defaultIPv4Length)!
            let count = used.filter { $0.overlaps(p) }.count
            if best == nil || count < best!.count { best = (count, p) }
            if count == 0 { break }
        }
        return best!.prefix
    }
}
