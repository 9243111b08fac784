import Foundation
import Glibc
import SystemCalls

/// One command to HAProxy's master CLI (a unix socket, `-S`): connect, send the line, close our
/// side, read until the master closes the connection. Nil when the
/// socket refuses or the reply does not come within `timeout`: a re-executing master does both,
/// and the caller polls.
struct HAProxyMasterSocket {
    let path: String
    var timeout: Double = 2

    func send(_ command: String) -> String? {
        try? exchange(command)
    }

    /// The exchange through the system-call funnel; any failed call ends it.
    private func exchange(_ command: String) throws(SystemCallError) -> String? {
        let fd = try systemCall("socket", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0) }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        let size = socklen_t(MemoryLayout<timeval>.size)
        try systemCall("setsockopt SO_RCVTIMEO", path) { setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, size) }
        try systemCall("setsockopt SO_SNDTIMEO", path) { setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, size) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        try systemCall("connect", path) {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        let line = Array((command + "\n").utf8)
        let sent = try systemCall("send", path) {
            line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        guard sent == line.count else { return nil }
        // The master answers and closes once it sees the end of the input.
        try systemCall("shutdown", path) { shutdown(fd, Int32(SHUT_WR)) }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while reply.count < 1 << 20 {
            let n = try systemCall("read", path) { read(fd, &buffer, buffer.count) }
            if n == 0 { break }
            reply += buffer[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
