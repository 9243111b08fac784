import CNetlink
import Glibc

/// Per-namespace sysctls (`net.ipv6.conf.all.forwarding`...). /proc/sys/net answers for the
/// namespace of whoever opened the file, so the file is opened inside the namespace (C helper,
/// calling thread only) and read or written from here.
public enum Sysctl {
    /// `sysctl -w KEY=VALUE` inside `namespace` (nil: the caller's own).
    public static func write(_ key: String, _ value: String, namespace: String? = nil) throws(NetlinkError) {
        let fd = try open(key, O_WRONLY, namespace, "write sysctl")
        defer { close(fd) }
        let bytes = Array((value + "\n").utf8)
        try systemCall("write sysctl", key) { bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
    }

    /// `sysctl -n KEY` inside `namespace`, trimmed.
    public static func read(_ key: String, namespace: String? = nil) throws(NetlinkError) -> String {
        let fd = try open(key, O_RDONLY, namespace, "read sysctl")
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = try systemCall("read sysctl", key) {
            buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: [" ", "\n", "\t"])
    }

    /// `net.ipv6.conf.all.forwarding` -> `/proc/sys/net/ipv6/conf/all/forwarding`. Interface
    /// names with dots are not supported by this spelling; use the path form for those.
    public static func path(of key: String) -> String {
        key.hasPrefix("/") ? key : "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
    }

    private static func open(_ key: String, _ flags: Int32, _ namespace: String?, _ op: String) throws(NetlinkError)
        -> Int32
    {
        let file = path(of: key)
        if let namespace {
            return try systemCall(op, "\(key) in netns \(namespace)", .negativeErrno) {
                cnl_open_in_netns(NetworkNamespace.path(of: namespace), file, flags)
            }
        }
        return try systemCall(op, key) { Glibc.open(file, flags | O_CLOEXEC) }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }

    fileprivate func replacingOccurrences(of a: Character, with b: Character) -> String {
        String(map { $0 == a ? b : $0 })
    }
}
