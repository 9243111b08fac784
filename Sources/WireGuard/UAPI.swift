import Glibc
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
        var errno: Int64?
        try forEachLine(response, interface: interface) { key, value in
            if key.elementsEqual("errno".utf8) { errno = parseInt(value) }
        }
        guard let errno else {
            throw WireGuardError.malformedResponse(
                interface: interface, detail: "no errno in reply to set: \(preview(response))")
        }
        if errno != 0 { throw WireGuardError.refused(interface: interface, operation: "set", errno: errnoValue(errno)) }
    }

    /// Parses the reply to `get=1` into a `Device`. The private key goes straight from the reply
    /// into a `SecretKey`; the caller should wipe `response` afterwards.
    public static func parseDevice(_ response: [UInt8], name: String) throws -> Device {
        var device = Device(name: name)
        var peer: Device.Peer?
        var handshakeSeconds: Int64 = 0
        var handshakeNanos: Int64 = 0
        var errno: Int64?

        func bad(_ what: String, _ value: ArraySlice<UInt8>) -> WireGuardError {
            .malformedResponse(interface: name, detail: "\(what) '\(String(decoding: value, as: UTF8.self))'")
        }
        func finishPeer() {
            guard var p = peer else { return }
            p.lastHandshake = Device.handshakeDate(seconds: handshakeSeconds, nanoseconds: handshakeNanos)
            device.peers.append(p)
            peer = nil
            handshakeSeconds = 0
            handshakeNanos = 0
        }

        try forEachLine(response, interface: name) { key, value in
            if key.elementsEqual("public_key".utf8) {
                finishPeer()
                guard let k = parseKey(value) else { throw bad("public_key", value) }
                peer = Device.Peer(config: PeerConfig(publicKey: k))
                return
            }
            if key.elementsEqual("errno".utf8) {
                errno = parseInt(value)
                return
            }
            guard peer != nil else {
                // Device section.
                switch String(decoding: key, as: UTF8.self) {
                case "private_key":
                    guard value.count == 64, let secret = parseSecret(value) else { throw bad("private_key", [] ) }
                    device.privateKey = secret
                    device.publicKey = Curve25519.publicKey(for: secret)
                case "listen_port":
                    guard let v = parseInt(value), let p = UInt16(exactly: v) else { throw bad("listen_port", value) }
                    device.listenPort = p
                case "fwmark":
                    guard let v = parseInt(value), let m = UInt32(exactly: v) else { throw bad("fwmark", value) }
                    device.fwmark = m
                default: break  // Unknown device keys from newer versions are ignored.
                }
                return
            }
            switch String(decoding: key, as: UTF8.self) {
            case "preshared_key":
                guard let k = parseKey(value) else { throw bad("preshared_key", value) }
                peer!.config.presharedKey = k.isZero ? nil : k
            case "endpoint":
                guard let e = Endpoint(String(decoding: value, as: UTF8.self)) else { throw bad("endpoint", value) }
                peer!.config.endpoint = e
            case "allowed_ip":
                guard let p = IPPrefix(String(decoding: value, as: UTF8.self)) else { throw bad("allowed_ip", value) }
                peer!.config.allowedIPs.append(p)
            case "persistent_keepalive_interval":
                guard let v = parseInt(value), let k = UInt16(exactly: v) else {
                    throw bad("persistent_keepalive_interval", value)
                }
                peer!.config.persistentKeepalive = k
            case "last_handshake_time_sec":
                guard let v = parseInt(value) else { throw bad("last_handshake_time_sec", value) }
                handshakeSeconds = v
            case "last_handshake_time_nsec":
                guard let v = parseInt(value) else { throw bad("last_handshake_time_nsec", value) }
                handshakeNanos = v
            case "rx_bytes":
                guard let v = parseUInt(value) else { throw bad("rx_bytes", value) }
                peer!.rxBytes = v
            case "tx_bytes":
                guard let v = parseUInt(value) else { throw bad("tx_bytes", value) }
                peer!.txBytes = v
            default: break  // protocol_version and keys of newer versions.
            }
        }
        finishPeer()
        guard let errno else {
            throw WireGuardError.malformedResponse(interface: name, detail: "no errno in reply to get")
        }
        if errno != 0 { throw WireGuardError.refused(interface: name, operation: "get", errno: errnoValue(errno)) }
        return device
    }

    // MARK: - Lines

    private static let newline = UInt8(ascii: "\n")
    private static let equals = UInt8(ascii: "=")

    /// Calls `body` for each `key=value` line up to the terminating blank line.
    static func forEachLine(
        _ bytes: [UInt8], interface: String,
        _ body: (ArraySlice<UInt8>, ArraySlice<UInt8>) throws -> Void
    ) throws {
        var start = bytes.startIndex
        while start < bytes.endIndex {
            guard let end = bytes[start...].firstIndex(of: newline) else {
                throw WireGuardError.malformedResponse(interface: interface, detail: "reply not terminated by a newline")
            }
            if end == start { return }  // Blank line: end of the reply.
            let line = bytes[start..<end]
            guard let eq = line.firstIndex(of: equals) else {
                throw WireGuardError.malformedResponse(
                    interface: interface, detail: "line without '=': '\(String(decoding: line, as: UTF8.self))'")
            }
            try body(bytes[start..<eq], bytes[(eq + 1)..<end])
            start = end + 1
        }
        throw WireGuardError.malformedResponse(interface: interface, detail: "reply not terminated by a blank line")
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

    static func parseKey(_ hex: ArraySlice<UInt8>) -> WireGuardKey? {
        guard hex.count == 64 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        var i = hex.startIndex
        for j in 0..<32 {
            guard let h = nibble(hex[i]), let l = nibble(hex[i + 1]) else { return nil }
            out[j] = h << 4 | l
            i += 2
        }
        return WireGuardKey(bytes: out)
    }

    /// Decodes straight into the secret's own buffer: no intermediate copy of the key.
    static func parseSecret(_ hex: ArraySlice<UInt8>) -> SecretKey? {
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

    static func parseInt(_ s: ArraySlice<UInt8>) -> Int64? {
        var rest = s[...]
        var negative = false
        if rest.first == UInt8(ascii: "-") {
            negative = true
            rest = rest.dropFirst()
        }
        guard let v = parseUInt(rest), v <= UInt64(Int64.max) else { return nil }
        return negative ? -Int64(v) : Int64(v)
    }

    static func parseUInt(_ s: ArraySlice<UInt8>) -> UInt64? {
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
