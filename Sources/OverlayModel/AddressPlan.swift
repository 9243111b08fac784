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
