import Glibc
import SystemCalls

/// One connection to a wireguard-go UAPI socket: connect, send a request, read the reply up to
/// its blank line, close. A fresh connection per request keeps a failed request from leaving
/// half-read state behind, and costs microseconds.
final class UAPISocket {
    let fd: Int32
    let interface: String

    /// Connects to `path`. `ENOENT`/`ECONNREFUSED` mean no live wireguard-go behind it.
    init(path: String, interface: String, timeout: Duration) throws {
        self.interface = interface
        let fd: Int32
        do throws(SystemCallError) {
            fd = try systemCall("socket") {
                socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
        } catch {
            throw WireGuardError.socket(interface: interface, operation: "socket", errno: error.errno.rawValue)
        }
        self.fd = fd
        var tv = timeval(
            tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        // Best effort: without them a request waits longer, but still ends when the process does.
        _ = try? systemCall("setsockopt SO_RCVTIMEO") {
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        _ = try? systemCall("setsockopt SO_SNDTIMEO") {
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }

        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw WireGuardError.socket(interface: interface, operation: "connect \(path)", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { dst in
            for (i, b) in pathBytes.enumerated() { dst[i] = b }
        }
        do throws(SystemCallError) {
            try systemCall("connect", path) {
                withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
        } catch {
            close(fd)
            throw WireGuardError.socket(interface: interface, operation: "connect \(path)", errno: error.errno.rawValue)
        }
    }

    deinit { close(fd) }

    /// The PID of the process serving the socket, from the kernel (SO_PEERCRED): it names the
    /// wireguard-go to stop without guessing by process name.
    func peerPID() -> pid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — declared here because glibc only
        // exposes it under _GNU_SOURCE.
        var cred = (Int32(0), UInt32(0), UInt32(0))
        var len = socklen_t(MemoryLayout.size(ofValue: cred))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, cred.0 > 0 else { return nil }
        return cred.0
    }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                // MSG_NOSIGNAL: a wireguard-go that died mid-request must give EPIPE, not kill us.
                do throws(SystemCallError) {
                    offset += try systemCall("send") {
                        Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                    }
                } catch {
                    throw WireGuardError.socket(interface: interface, operation: "send", errno: error.errno.rawValue)
                }
            }
        }
    }

    /// Reads until the reply ends with a blank line.
    func receiveReply() throws -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(65536)
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n: Int
            do throws(SystemCallError) {
                n = try systemCall("recv") { chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) } }
            } catch {
                // The receive timeout (SO_RCVTIMEO) ran out.
                if error.errno == .EAGAIN {
                    throw WireGuardError.timeout(interface: interface, waitingFor: "a UAPI reply")
                }
                throw WireGuardError.socket(interface: interface, operation: "recv", errno: error.errno.rawValue)
            }
            if n == 0 {
                throw WireGuardError.malformedResponse(
                    interface: interface, detail: "connection closed after \(out.count) bytes, before the blank line")
            }
            if out.count + n > out.capacity {
                // Grow by hand so the old buffer, which may hold the private key, is wiped.
                var bigger = [UInt8]()
                bigger.reserveCapacity(max(out.capacity * 2, out.count + n))
                bigger.append(contentsOf: out)
                wipe(&out)
                out = bigger
            }
            out.append(contentsOf: chunk[0..<n])
            let c = out.count
            if c >= 2, out[c - 1] == 0x0A, out[c - 2] == 0x0A { break }
            if c == 1, out[0] == 0x0A { break }
        }
        // The chunk may hold part of a private key.
        wipe(&chunk)
        return out
    }
}

/// Zeroes a buffer that may have held key material.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { if let p = $0.baseAddress { explicit_bzero(p, $0.count) } }
}
