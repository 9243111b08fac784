// swift-format-ignore-file: AlwaysUseLowerCamelCase

// (errno constants keep their C names: `.EEXIST` reads as the kernel and the man pages spell it)
import Glibc

/// A POSIX error number as the kernel reports it (positive), with its symbolic name.
public struct Errno: RawRepresentable, Hashable, Sendable, Error, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let EPERM = Errno(rawValue: 1)
    public static let ENOENT = Errno(rawValue: 2)
    public static let ESRCH = Errno(rawValue: 3)
    public static let EINTR = Errno(rawValue: 4)
    public static let EIO = Errno(rawValue: 5)
    public static let ENXIO = Errno(rawValue: 6)
    public static let E2BIG = Errno(rawValue: 7)
    public static let EBADF = Errno(rawValue: 9)
    public static let ECHILD = Errno(rawValue: 10)
    public static let EAGAIN = Errno(rawValue: 11)
    public static let ENOMEM = Errno(rawValue: 12)
    public static let EACCES = Errno(rawValue: 13)
    public static let EFAULT = Errno(rawValue: 14)
    public static let EBUSY = Errno(rawValue: 16)
    public static let EEXIST = Errno(rawValue: 17)
    public static let EXDEV = Errno(rawValue: 18)
    public static let ENODEV = Errno(rawValue: 19)
    public static let ENOTDIR = Errno(rawValue: 20)
    public static let EISDIR = Errno(rawValue: 21)
    public static let EINVAL = Errno(rawValue: 22)
    public static let ENFILE = Errno(rawValue: 23)
    public static let EMFILE = Errno(rawValue: 24)
    public static let ENOSPC = Errno(rawValue: 28)
    public static let EPIPE = Errno(rawValue: 32)
    public static let ERANGE = Errno(rawValue: 34)
    public static let ENAMETOOLONG = Errno(rawValue: 36)
    public static let ENOSYS = Errno(rawValue: 38)
    public static let ENOTEMPTY = Errno(rawValue: 39)
    public static let ELOOP = Errno(rawValue: 40)
    public static let ENOMSG = Errno(rawValue: 42)
    public static let ENOLINK = Errno(rawValue: 67)
    public static let EPROTO = Errno(rawValue: 71)
    public static let EBADMSG = Errno(rawValue: 74)
    public static let ENOTSOCK = Errno(rawValue: 88)
    public static let EMSGSIZE = Errno(rawValue: 90)
    public static let EPROTONOSUPPORT = Errno(rawValue: 93)
    public static let EOPNOTSUPP = Errno(rawValue: 95)
    public static let EAFNOSUPPORT = Errno(rawValue: 97)
    public static let EADDRINUSE = Errno(rawValue: 98)
    public static let EADDRNOTAVAIL = Errno(rawValue: 99)
    public static let ENETDOWN = Errno(rawValue: 100)
    public static let ENETUNREACH = Errno(rawValue: 101)
    public static let ENOBUFS = Errno(rawValue: 105)
    public static let ETIMEDOUT = Errno(rawValue: 110)
    public static let ECONNREFUSED = Errno(rawValue: 111)
    public static let EHOSTUNREACH = Errno(rawValue: 113)

    private static let names: [Int32: String] = [
        1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 9: "EBADF", 10: "ECHILD",
        11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV",
        19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 28: "ENOSPC", 32: "EPIPE",
        34: "ERANGE", 36: "ENAMETOOLONG", 38: "ENOSYS", 39: "ENOTEMPTY", 40: "ELOOP", 42: "ENOMSG",
        67: "ENOLINK", 71: "EPROTO", 74: "EBADMSG", 88: "ENOTSOCK", 90: "EMSGSIZE", 93: "EPROTONOSUPPORT",
        95: "EOPNOTSUPP", 97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN",
        101: "ENETUNREACH", 105: "ENOBUFS", 110: "ETIMEDOUT", 111: "ECONNREFUSED", 113: "EHOSTUNREACH",
    ]

    /// The symbolic name (`EEXIST`), or `errno N` for one this table does not know.
    public var name: String { Errno.names[rawValue] ?? "errno \(rawValue)" }

    /// `File exists (EEXIST)`.
    public var description: String { "\(String(cString: strerror(rawValue))) (\(name))" }

    /// The calling thread's errno, read right after a failed call.
    public static var current: Errno { Errno(rawValue: errno) }
}
