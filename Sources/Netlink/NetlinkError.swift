import SystemCalls

/// A failed kernel operation: what was attempted, on what, and the errno it answered.
/// Reads like `create link veth0: File exists (EEXIST)`.
public struct NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    public var operation: String
    public var object: String
    public var errno: Errno
    /// The kernel's extended-ACK text, when it sent one ("Unknown device type").
    public var kernelMessage: String?

    public init(operation: String, object: String, errno: Errno, kernelMessage: String? = nil) {
        self.operation = operation
        self.object = object
        self.errno = errno
        self.kernelMessage = kernelMessage
    }

    public var description: String {
        let target = object.isEmpty ? operation : "\(operation) \(object)"
        if let kernelMessage, !kernelMessage.isEmpty {
            return "\(target): \(errno) - \(kernelMessage)"
        }
        return "\(target): \(errno)"
    }
}

extension NetlinkError {
    /// A failed system call on the way to the kernel (opening a socket or a namespace).
    public init(_ failure: SystemCallError) {
        self.init(operation: failure.call, object: failure.object, errno: failure.errno)
    }
}

/// The system-call funnel (`SystemCalls.systemCall`) for this module, whose calls all throw
/// `NetlinkError`.
@discardableResult
func systemCall<T: FixedWidthInteger & SignedInteger>(
    _ operation: String, _ object: String = "", _ convention: FailureConvention = .minusOneSetsErrno,
    _ body: () -> T
) throws(NetlinkError) -> T {
    do { return try SystemCalls.systemCall(operation, object, convention, body) } catch {
        throw NetlinkError(error)
    }
}
