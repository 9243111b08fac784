import Glibc

/// Everything the WireGuard backends can report. Each case names the interface and, where the
/// system gave one, the errno, so the agent can log and act without guessing.
public enum WireGuardError: Error, Equatable, CustomStringConvertible {
    /// Not a usable interface name (1–15 bytes, no `/`, whitespace or `:`).
    case invalidInterfaceName(String)
    /// No wireguard-go UAPI socket and no kernel device of that name.
    case noSuchInterface(String)
    /// The interface already exists (a second create).
    case interfaceExists(String)
    /// wireguard-go (or the kernel) refused a request; `errno` is positive (EINVAL, EADDRINUSE...).
    case refused(interface: String, operation: String, errno: Int32)
    /// A system call on the UAPI socket failed.
    case socket(interface: String, operation: String, errno: Int32)
    /// The other side answered something this library does not understand.
    case malformedResponse(interface: String, detail: String)
    /// Starting, waiting for or stopping wireguard-go went wrong.
    case process(interface: String, detail: String)
    /// Waiting for something took longer than allowed.
    case timeout(interface: String, waitingFor: String)
    /// The generic netlink transport failed (its own error, described).
    case netlink(interface: String, operation: String, detail: String, errno: Int32?)

    public var description: String {
        switch self {
        case .invalidInterfaceName(let n):
            "invalid interface name '\(n)': 1 to 15 bytes, no '/', ':' or whitespace"
        case .noSuchInterface(let n): "WireGuard interface \(n) does not exist"
        case .interfaceExists(let n): "WireGuard interface \(n) already exists"
        case .refused(let n, let op, let e): "\(n): \(op) refused: \(Self.name(e))"
        case .socket(let n, let op, let e): "\(n): \(op) on the UAPI socket failed: \(Self.name(e))"
        case .malformedResponse(let n, let d): "\(n): malformed response: \(d)"
        case .process(let n, let d): "\(n): wireguard-go: \(d)"
        case .timeout(let n, let w): "\(n): timed out waiting for \(w)"
        case .netlink(let n, let op, let d, let e):
            "\(n): netlink \(op) failed: \(d)" + (e.map { " (\(Self.name($0)))" } ?? "")
        }
    }

    static func name(_ errno: Int32) -> String {
        "errno \(errno) (\(String(cString: strerror(errno))))"
    }

    static func validate(_ name: String) throws {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), name != ".", name != "..",
            !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f })
        else { throw WireGuardError.invalidInterfaceName(name) }
    }
}
