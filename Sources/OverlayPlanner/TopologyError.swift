/// A network the planner cannot build (e.g. hidden members and no relay).
public struct TopologyError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
