/// A rejected input: which field, the value given, and what is allowed.
public struct ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    public var field: String
    public var value: String
    public var allowed: String

    public init(_ field: String, _ value: String, allowed: String) {
        self.field = field
        self.value = value
        self.allowed = allowed
    }

    public var description: String { "invalid \(field) '\(value)': \(allowed)" }
}

/// A command that is well-formed but conflicts with the current state.
public struct ConflictError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A reference to something that does not exist.
public struct NotFoundError: Error, Equatable, Sendable, CustomStringConvertible {
    public var kind: String
    public var name: String
    public init(_ kind: String, _ name: String) {
        self.kind = kind
        self.name = name
    }
    public var description: String { "no \(kind) named '\(name)'" }
}
