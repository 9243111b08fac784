/// A value written as text (addresses, prefixes, endpoints): parsed from a `String`, and from a
/// slice of one through the same parser. A concrete `String` parser rather than a generic
/// `StringProtocol` one: generic code is not specialised across modules, and stored rows are
/// parsed by the thousand.
public protocol ParsableFromText {
    init?(_ text: String)
}

extension ParsableFromText {
    /// The same, of a slice of a larger text.
    public init?(_ text: Substring) { self.init(String(text)) }
}

extension Endpoint: ParsableFromText {}
extension IPAddress: ParsableFromText {}
extension IPPrefix: ParsableFromText {}
extension IPv4Address: ParsableFromText {}
extension IPv4Prefix: ParsableFromText {}
extension IPv6Address: ParsableFromText {}
extension IPv6Prefix: ParsableFromText {}
