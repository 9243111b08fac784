import Glibc
import OverlayCrypto
import OverlayModel

/// The cross-platform WireGuard configuration protocol that wireguard-go speaks on its unix
/// socket: `key=value` lines, a blank line ends a request or a response, keys in hex.
/// Pure byte functions; `UAPISocket` carries them.
public enum UAPI {
    /// A `set=1` request in two buffers so the secret part can be wiped on its own:
    /// `head` is `set=1` plus the private key line (if any), `body` everything after it.
    public struct SetRequest: Sendable {
        public var head: [UInt8]
        public var body: [UInt8]
        let hasPrivateKey: Bool

        /// The request with the private key replaced by `(redacted)`: safe to log or assert on.
        public var redactedText: String {
            (hasPrivateKey ? "set=1\nprivate_key=(redacted)\n" : "set=1\n") + String(decoding: body, as: UTF8.self)
        }

        /// Overwrites the head (which may hold the private key) with zeros.
        public mutating func wipe() {
            head.withUnsafeMutableBytes { if let p = $0.baseAddress { explicit_bzero(p, $0.count) } }
        }
    }

    public static let getRequest: [UInt8] = Array("get=1\n\n".utf8)

    /// Builds the `set=1` request for `change`. Peers are streamed in the order given: removals
    /// as `remove=true`, updates with `update_only=true` and only their changed fields, additions
    /// with all their fields; any AllowedIPs list is sent with `replace_allowed_ips=true`, so a
    /// peer's list is replaced, never appended to.
    public static func setRequest(_ change: DeviceChange) -> SetRequest {
        // Reserved up front so appending the key never reallocates and leaves a copy behind.
        var head = [UInt8]()
        head.reserveCapacity(96)
        head.append(contentsOf: "set=1\n".utf8)
        if let key = change.privateKey {
            head.append(contentsOf: "private_key=".utf8)
            key.withBytes { appendHex($0, to: &head) }
            head.append(newline)
        }

        var body = [UInt8]()
        body.reserveCapacity(64 + change.peers.count * 200)
        if let port = change.listenPort { line(&body, "listen_port", String(port)) }
        if let mark = change.fwmark { line(&body, "fwmark", String(mark)) }
        if change.replacePeers { line(&body, "replace_peers", "true") }
        for peer in change.peers {
            switch peer {
            case .remove(let key):
                keyLine(&body, "public_key", key)
                line(&body, "remove", "true")
            case .update(let u):
                keyLine(&body, "public_key", u.publicKey)
                // The peer exists; if it vanished meanwhile, do not resurrect it half-configured.
                line(&body, "update_only", "true")
                if let psk = u.presharedKey { keyLine(&body, "preshared_key", psk) }
                if let e = u.endpoint { line(&body, "endpoint", e.description) }
                if let k = u.persistentKeepalive { line(&body, "persistent_keepalive_interval", String(k)) }
                if let ips = u.allowedIPs { allowedIPs(&body, ips) }
            case .add(let c):
                keyLine(&body, "public_key", c.publicKey)
                if let psk = c.presharedKey { keyLine(&body, "preshared_key", psk) }
                if let e = c.endpoint { line(&body, "endpoint", e.description) }
                if c.persistentKeepalive != 0 {
                    line(&body, "persistent_keepalive_interval", String(c.persistentKeepalive))
                }
                allowedIPs(&body, c.allowedIPs)
            }
        }
        body.append(newline)
        return SetRequest(head: head, body: body, hasPrivateKey: change.privateKey != nil)
    }

    /// Checks the reply to a `set=1`: `errno=0` and a blank line, or a typed error.
    public static func checkSetResponse(_ response: [UInt8], interface: String) throws {
        let errno: Int64? = try response.withUnsafeBufferPointer { buffer in
            var lines = Lines(bytes: buffer, interface: interface)
            var errno: Int64?
            while let (key, value) = try lines.next() {
                if Key(key) == .errno { errno = parseInt(value) }
            }
            return errno
        }
        guard let errno else {
            throw WireGuardError.malformedResponse(
                interface: interface, detail: "no errno in reply to set: \(preview(response))")
        }
        if errno != 0 { throw WireGuardError.refused(interface: interface, operation: "set", errno: errnoValue(errno)) }
    }

    /// Parses the reply to `get=1` into a `Device`. The private key goes straight from the reply
    /// into a `SecretKey`; the caller should wipe `response` afterwards. Works on the bytes
    /// without making strings: a 1,000-peer reply is 10,000 lines.
    public static func parseDevice(_ response: [UInt8], name: String) throws -> Device {
        try response.withUnsafeBufferPointer { try parseDevice($0, name: name) }
    }

    /// Slices of an unsafe buffer: no reference counting per line, which dominated the cost.
    typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    private static func parseDevice(_ response: UnsafeBufferPointer<UInt8>, name: String) throws -> Device {
        var device = Device(name: name)
        var peer: Device.Peer?
        var handshakeSeconds: Int64 = 0
        var handshakeNanos: Int64 = 0
        var errno: Int64?

        func bad(_ what: String, _ value: Bytes) -> WireGuardError {
            .malformedResponse(interface: name, detail: "\(what) '\(String(decoding: value, as: UTF8.self))'")
        }
        // A plain loop over the lines, no closures: captured variables would be boxed and
        // checked for exclusive access on every line, which dominated the cost.
        var lines = Lines(bytes: response, interface: name)
        while let (keyBytes, value) = try lines.next() {
            let key = Key(keyBytes)
            if key == .publicKey {
                if var p = peer {
                    p.lastHandshake = Device.handshakeDate(seconds: handshakeSeconds, nanoseconds: handshakeNanos)
                    device.peers.append(p)
                }
                handshakeSeconds = 0
                handshakeNanos = 0
                guard let k = parseKey(value) else { throw bad("public_key", value) }
                peer = Device.Peer(config: PeerConfig(publicKey: k))
                continue
            }
            if key == .errno {
                errno = parseInt(value)
                continue
            }
            guard peer != nil else {
                switch key {
                case .privateKey:
                    guard let secret = parseSecret(value) else { throw bad("private_key", value.prefix(0)) }
                    device.privateKey = secret
                    // wireguard-go's `get` reports the private key only.
                    device.publicKey = secret.count == 32 ? X25519.publicKey(for: secret) : nil
                case .listenPort:
                    guard let v = parseInt(value), let p = UInt16(exactly: v) else { throw bad("listen_port", value) }
                    device.listenPort = p
                case .fwmark:
                    guard let v = parseInt(value), let m = UInt32(exactly: v) else { throw bad("fwmark", value) }
                    device.fwmark = m
                default: break  // Unknown device keys from newer versions are ignored.
                }
                continue
            }
            switch key {
            case .presharedKey:
                // Most peers have none: all zeros, no key to build.
                if value.count == 64, value.allSatisfy({ $0 == UInt8(ascii: "0") }) { continue }
                guard let k = parseKey(value) else { throw bad("preshared_key", value) }
                peer!.config.presharedKey = k.isZero ? nil : k
            case .endpoint:
                guard let e = parseEndpoint(value) else { throw bad("endpoint", value) }
                peer!.config.endpoint = e
            case .allowedIP:
                guard let p = parsePrefix(value) else { throw bad("allowed_ip", value) }
                peer!.config.allowedIPs.append(p)
            case .persistentKeepaliveInterval:
                guard let v = parseInt(value), let k = UInt16(exactly: v) else {
                    throw bad("persistent_keepalive_interval", value)
                }
                peer!.config.persistentKeepalive = k
            case .lastHandshakeTimeSec:
                guard let v = parseInt(value) else { throw bad("last_handshake_time_sec", value) }
                handshakeSeconds = v
            case .lastHandshakeTimeNsec:
                guard let v = parseInt(value) else { throw bad("last_handshake_time_nsec", value) }
                handshakeNanos = v
            case .rxBytes:
                guard let v = parseUInt(value) else { throw bad("rx_bytes", value) }
                peer!.rxBytes = v
            case .txBytes:
                guard let v = parseUInt(value) else { throw bad("tx_bytes", value) }
                peer!.txBytes = v
            default: break  // protocol_version and keys of newer versions.
            }
        }
        if var p = peer {
            p.lastHandshake = Device.handshakeDate(seconds: handshakeSeconds, nanoseconds: handshakeNanos)
            device.peers.append(p)
        }
        guard let errno else {
            throw WireGuardError.malformedResponse(interface: name, detail: "no errno in reply to get")
        }
        if errno != 0 { throw WireGuardError.refused(interface: name, operation: "get", errno: errnoValue(errno)) }
        return device
    }

    /// The keys of a `get` reply this parser uses, recognised from bytes.
    private enum Key {
        case privateKey, listenPort, fwmark, publicKey, presharedKey, endpoint, allowedIP
        case persistentKeepaliveInterval, lastHandshakeTimeSec, lastHandshakeTimeNsec, rxBytes, txBytes, errno
        case other

        /// By length first, then the bytes: no allocation, no table walk per line.
        init(_ b: Bytes) {
            func matches(_ s: StaticString) -> Bool {
                s.withUTF8Buffer { $0.count == b.count && $0.elementsEqual(b) }
            }
            switch b.count {
            case 5: self = matches("errno") ? .errno : .other
            case 6: self = matches("fwmark") ? .fwmark : .other
            case 8:
                self =
                    matches("endpoint")
                    ? .endpoint
                    : matches("rx_bytes")
                        ? .rxBytes
                        : matches("tx_bytes") ? .txBytes : .other
            case 10: self = matches("public_key") ? .publicKey : matches("allowed_ip") ? .allowedIP : .other
            case 11: self = matches("private_key") ? .privateKey : matches("listen_port") ? .listenPort : .other
            case 13: self = matches("preshared_key") ? .presharedKey : .other
            case 23: self = matches("last_handshake_time_sec") ? .lastHandshakeTimeSec : .other
            case 24: self = matches("last_handshake_time_nsec") ? .lastHandshakeTimeNsec : .other
            case 29: self = matches("persistent_keepalive_interval") ? .persistentKeepaliveInterval : .other
            default: self = .other
            }
        }
    }

    /// `ADDR/LEN` from bytes.
    static func parsePrefix(_ b: Bytes) -> IPPrefix? {
        guard let slash = b.firstIndex(of: UInt8(ascii: "/")), let address = parseAddress(b[..<slash]),
            let len = parseUInt(b[(slash + 1)...]), len <= UInt64(address.bitWidth)
        else { return nil }
        return IPPrefix(address: address, length: UInt8(len))
    }

    /// `a.b.c.d:port` or `[v6]:port` from bytes (a zone is dropped).
    static func parseEndpoint(_ b: Bytes) -> Endpoint? {
        guard let colon = b.lastIndex(of: UInt8(ascii: ":")), let port = parseUInt(b[(colon + 1)...]),
            let port16 = UInt16(exactly: port)
        else { return nil }
        var host = b[..<colon]
        if host.first == UInt8(ascii: "[") {
            guard host.last == UInt8(ascii: "]") else { return nil }
            host = host.dropFirst().dropLast()
            if let percent = host.firstIndex(of: UInt8(ascii: "%")) { host = host[..<percent] }
            guard case .v6(let a)? = parseAddress(host) else { return nil }
            return Endpoint(address: .v6(a), port: port16)
        }
        guard case .v4(let a)? = parseAddress(host) else { return nil }
        return Endpoint(address: .v4(a), port: port16)
    }

    /// inet_pton on a stack copy: no String in between.
    static func parseAddress(_ b: Bytes) -> IPAddress? {
        guard !b.isEmpty, b.count < 64 else { return nil }
        let v6 = b.contains(UInt8(ascii: ":"))
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { text -> IPAddress? in
            for (i, c) in b.enumerated() { text[i] = CChar(bitPattern: c) }
            text[b.count] = 0
            // Network order in memory: read back as big-endian integers.
            var raw = (UInt64(0), UInt64(0))
            guard inet_pton(v6 ? AF_INET6 : AF_INET, text.baseAddress!, &raw) == 1 else { return nil }
            if v6 { return .v6(IPv6Address(high: UInt64(bigEndian: raw.0), low: UInt64(bigEndian: raw.1))) }
            return .v4(IPv4Address(UInt32(bigEndian: withUnsafeBytes(of: raw) { $0.load(as: UInt32.self) })))
        }
    }

    // MARK: - Lines

    static let newline = UInt8(ascii: "\n")
    static let equals = UInt8(ascii: "=")

    /// The `key=value` lines of a reply, up to its blank line.
    struct Lines {
        let bytes: UnsafeBufferPointer<UInt8>
        let interface: String
        var start: Int

        init(bytes: UnsafeBufferPointer<UInt8>, interface: String) {
            self.bytes = bytes
            self.interface = interface
            start = bytes.startIndex
        }

        mutating func next() throws -> (Bytes, Bytes)? {
            guard start < bytes.endIndex else {
                throw WireGuardError.malformedResponse(
                    interface: interface, detail: "reply not terminated by a blank line")
            }
            let base = bytes.baseAddress!
            guard let nl = memchr(base + start, Int32(UAPI.newline), bytes.endIndex - start) else {
                throw WireGuardError.malformedResponse(
                    interface: interface, detail: "reply not terminated by a newline")
            }
            let end = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) - base
            if end == start { return nil }  // Blank line: end of the reply.
            let line = bytes[start..<end]
            guard let eqPointer = memchr(base + start, Int32(UAPI.equals), end - start) else {
                throw WireGuardError.malformedResponse(
                    interface: interface, detail: "line without '=': '\(String(decoding: line, as: UTF8.self))'")
            }
            let eq = UnsafePointer(eqPointer.assumingMemoryBound(to: UInt8.self)) - base
            start = end + 1
            return (bytes[line.startIndex..<eq], bytes[(eq + 1)..<end])
        }
    }

    private static func line(_ out: inout [UInt8], _ key: String, _ value: String) {
        out.append(contentsOf: key.utf8)
        out.append(equals)
        out.append(contentsOf: value.utf8)
        out.append(newline)
    }

    private static func keyLine(_ out: inout [UInt8], _ key: String, _ value: WireGuardKey) {
        out.append(contentsOf: key.utf8)
        out.append(equals)
        value.bytes.withUnsafeBytes { appendHex($0, to: &out) }
        out.append(newline)
    }

    private static func allowedIPs(_ out: inout [UInt8], _ ips: [IPPrefix]) {
        line(&out, "replace_allowed_ips", "true")
        for ip in ips { line(&out, "allowed_ip", ip.description) }
    }

    // MARK: - Numbers and hex

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func appendHex(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        for b in bytes {
            out.append(hexDigits[Int(b >> 4)])
            out.append(hexDigits[Int(b & 0xF)])
        }
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func parseKey(_ hex: Bytes) -> WireGuardKey? {
        guard hex.count == 64 else { return nil }
        var ok = true
        let out = [UInt8](unsafeUninitializedCapacity: 32) { dst, count in
            let src = UnsafeBufferPointer(rebasing: hex)
            for j in 0..<32 {
                guard let h = nibble(src[2 * j]), let l = nibble(src[2 * j + 1]) else {
                    ok = false
                    break
                }
                dst[j] = h << 4 | l
            }
            count = 32
        }
        return ok ? WireGuardKey(bytes: out) : nil
    }

    /// Decodes straight into the secret's own buffer: no intermediate copy of the key.
    static func parseSecret(_ hex: Bytes) -> SecretKey? {
        guard hex.count == 64 else { return nil }
        let secret = SecretKey(count: 32)
        let ok = secret.withMutableBytes { dst -> Bool in
            var i = hex.startIndex
            for j in 0..<32 {
                guard let h = nibble(hex[i]), let l = nibble(hex[i + 1]) else { return false }
                dst[j] = h << 4 | l
                i += 2
            }
            return true
        }
        return ok ? secret : nil
    }

    static func parseInt(_ s: Bytes) -> Int64? {
        var rest = s[...]
        var negative = false
        if rest.first == UInt8(ascii: "-") {
            negative = true
            rest = rest.dropFirst()
        }
        guard let v = parseUInt(rest), v <= UInt64(Int64.max) else { return nil }
        return negative ? -Int64(v) : Int64(v)
    }

    static func parseUInt(_ s: Bytes) -> UInt64? {
        guard !s.isEmpty, s.count <= 20 else { return nil }
        var v: UInt64 = 0
        for c in s {
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            v = a
        }
        return v
    }

    /// wireguard-go writes errno negated (`errno=-22`), other UAPI servers positive: report it positive.
    private static func errnoValue(_ v: Int64) -> Int32 { Int32(clamping: v.magnitude) }

    private static func preview(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(120), as: UTF8.self).replacingOccurrences(of: "\n", with: "\\n")
    }
}

extension String {
    fileprivate func replacingOccurrences(of a: String, with b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }
}
