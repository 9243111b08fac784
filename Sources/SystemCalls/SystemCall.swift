import Glibc

/// A failed system call: which call, on what, and the errno it answered. Reads like
/// `open /var/lib/overlay/identity.key: Permission denied (EACCES)`.
public struct SystemCallError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The call as the man pages name it (`open`, `bind`, `posix_spawnp`), or what it did.
    public var call: String
    /// What it was made on (a path, `udp/5353`, `in netns ovl-1`); may be empty.
    public var object: String
    public var errno: Errno

    public init(call: String, object: String = "", errno: Errno) {
        self.call = call
        self.object = object
        self.errno = errno
    }

    public var description: String {
        object.isEmpty ? "\(call): \(errno)" : "\(call) \(object): \(errno)"
    }
}

/// How a raw call reports failure.
public enum FailureConvention: Sendable {
    /// `-1` (any negative result) with errno set: libc.
    case minusOneSetsErrno
    /// `-errno`: the `cnl_` helpers of the CNetlink shim.
    case negativeErrno
    /// Any non-zero result is the errno itself: `posix_spawn`, `pthread_*`.
    case returnsErrno
}

/// The one funnel for raw system calls: a failed result becomes a `SystemCallError` naming the
/// call and its object; EINTR is retried, so no caller has to, unless `retryingInterrupts` is
/// false (a wait that a signal should end, so the caller notices the signal).
@discardableResult
public func systemCall<T: FixedWidthInteger & SignedInteger>(
    _ call: String, _ object: String = "", _ convention: FailureConvention = .minusOneSetsErrno,
    retryingInterrupts: Bool = true, _ body: () -> T
) throws(SystemCallError) -> T {
    while true {
        let result = body()
        let code: Errno
        switch convention {
        case .minusOneSetsErrno:
            guard result < 0 else { return result }
            code = .current
        case .negativeErrno:
            guard result < 0 else { return result }
            code = Errno(rawValue: -Int32(truncatingIfNeeded: result))
        case .returnsErrno:
            guard result != 0 else { return result }
            code = Errno(rawValue: Int32(truncatingIfNeeded: result))
        }
        if code == .EINTR && retryingInterrupts { continue }
        throw SystemCallError(call: call, object: object, errno: code)
    }
}

/// A pipe whose ends are non-blocking and closed on exec (a wake-up signal between threads).
/// Returns (read end, write end).
public func makeWakeUpPipe(_ purpose: String) throws(SystemCallError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    try systemCall("pipe", purpose) { pipe(&fds) }
    do throws(SystemCallError) {
        for fd in fds {
            let flags = try systemCall("fcntl F_GETFL", purpose) { fcntl(fd, F_GETFL) }
            try systemCall("fcntl F_SETFL", purpose) { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
            try systemCall("fcntl F_SETFD", purpose) { fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
    } catch {
        close(fds[0])
        close(fds[1])
        throw error
    }
    return (fds[0], fds[1])
}
