/// A VM or container attached to one network on one node.
public struct Workload: Hashable, Sendable, Codable {
    public var name: String
    public var network: String
    public var node: String
    /// Host number inside the node's /64 (2, 3, ...): the address is subnet + hostNumber.
    public var hostNumber: UInt64
    public var namespace: String
    public var exposed: [PortSpec]

    public init(
        name: String, network: String, node: String, hostNumber: UInt64, namespace: String,
        exposed: [PortSpec] = []
    ) {
        self.name = name
        self.network = network
        self.node = node
        self.hostNumber = hostNumber
        self.namespace = namespace
        self.exposed = exposed
    }

    /// The default namespace for a workload without `--netns`.
    public static func defaultNamespace(for name: String) -> String { "wl-\(name)" }
}
