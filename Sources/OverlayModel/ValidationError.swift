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

    public var description: String { "invalid \(field) '\(Quote.bounded(value))': \(allowed)" }
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
    public var description: String { "no \(kind) named '\(Quote.bounded(name))'" }
}

/// How a value someone typed is quoted in a message: whole when short, else a prefix and its size,
/// so a refusal never echoes a huge input back (to a terminal or over HTTP).
public enum Quote {
    /// Unicode scalars kept of a long value.
    public static let limit = 64

    public static func bounded(_ value: String) -> String {
        let scalars = value.unicodeScalars
        guard !scalars.dropFirst(limit).isEmpty else { return value }
        var kept = String.UnicodeScalarView()
        kept.append(contentsOf: scalars.prefix(limit))
        return String(kept) + "… (\(value.utf8.count) bytes)"
    }
}
