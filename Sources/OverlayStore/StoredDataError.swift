/// A row the store cannot turn back into a value, or rows that contradict each other (edited by
/// hand, or written by another version): the command that read them fails with this message, and
/// the rest of the controller keeps running.
public struct StoredDataError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    /// A column holding a value it cannot hold.
    public init(_ table: String, _ column: String, _ value: String, expected: String) {
        message =
            "the database holds an invalid \(table).\(column) '\(value)' (expected \(expected)); repair the row or restore a backup"
    }

    /// Rows that contradict each other.
    public init(inconsistent what: String) {
        message = "the database is inconsistent: \(what); repair it or restore a backup"
    }

    public var description: String { message }
}
