/// A transport protocol and port, as in `--expose tcp/80`.
public struct PortSpec: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public enum Proto: String, Codable, Sendable, Comparable, CaseIterable {
        case tcp, udp
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public var proto: Proto
    public var port: UInt16

    public init(proto: Proto, port: UInt16) {
        self.proto = proto
        self.port = port
    }

    /// Parses `tcp/80` or `udp/53`.
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let proto = Proto(rawValue: String(parts[0])) else {
            throw ValidationError("port", text, allowed: "PROTO/PORT with PROTO tcp or udp, e.g. tcp/80")
        }
        self.init(proto: proto, port: try PortSpec.port(String(parts[1]), field: "port"))
    }

    /// A port number 1-65535 in plain decimal.
    public static func port(_ text: String, field: String) throws -> UInt16 {
        guard let n = UInt16(text), n > 0, String(n) == text else {
            throw ValidationError(field, text, allowed: "a port number from 1 to 65535")
        }
        return n
    }

    public var description: String { "\(proto.rawValue)/\(port)" }

    public static func < (a: Self, b: Self) -> Bool { (a.proto, a.port) < (b.proto, b.port) }
}
