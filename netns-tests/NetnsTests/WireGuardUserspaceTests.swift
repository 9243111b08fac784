import Foundation
import Glibc
import OverlayModel
import Synchronization
import Testing
import WireGuard

/// wireguard-go configured only through `UserspaceWireGuard`, between two namespaces joined by a
/// veth. Each wireguard-go is started through the library with the launcher
/// `ip netns exec NS`, so its TUN and its UDP socket live in that namespace and the underlay is
/// the veth alone: the host's own namespace gets no link, address or route from this test.
/// (Starting in the host namespace and moving the TUN would need an underlay in the host
/// namespace too, which this test must not touch.) Names are unique per run because
/// /var/run/wireguard is shared by all namespaces.
@Suite(.serialized, .enabled(if: getuid() == 0))
struct WireGuardUserspaceTests {
    typealias T = WGTestTools

    /// Two namespaces nsA/nsB, veth vA/vB with IPv6 fd7e:57::1,2/64 and IPv4 198.51.100.1,2/30.
    struct Underlay {
        let id = T.randomSuffix()
        var nsA: String { "nt-\(id)a" }
        var nsB: String { "nt-\(id)b" }
        var ifA: String { "wt\(id)a" }
        var ifB: String { "wt\(id)b" }

        func create(_ cleanup: WGCleanup) throws {
            try T.run("ip", "netns", "add", nsA)
            cleanup.add("netns \(nsA)") { try T.run("ip", "netns", "del", nsA) }
            try T.run("ip", "netns", "add", nsB)
            cleanup.add("netns \(nsB)") { try T.run("ip", "netns", "del", nsB) }
            // Created inside nsA with its peer sent to nsB: never present in the host namespace.
            try T.run("ip", "-n", nsA, "link", "add", "vA", "type", "veth", "peer", "name", "vB", "netns", nsB)
            for (ns, dev, v6, v4) in [
                (nsA, "vA", "fd7e:57::1/64", "198.51.100.1/30"), (nsB, "vB", "fd7e:57::2/64", "198.51.100.2/30"),
            ] {
                try T.run("ip", "-n", ns, "link", "set", "lo", "up")
                try T.run("ip", "-n", ns, "addr", "add", v6, "dev", dev, "nodad")
                try T.run("ip", "-n", ns, "addr", "add", v4, "dev", dev)
                try T.run("ip", "-n", ns, "link", "set", dev, "up")
            }
        }
    }

    func backend(in ns: String, log: WGRequestLog, events: WGEventLog? = nil, restart: Bool = false)
        -> UserspaceWireGuard
    {
        var o = UserspaceWireGuard.Options()
        o.launcher = ["ip", "netns", "exec", ns]
        o.onRequest = log.observer
        o.restartOnExit = restart
        if let events { o.onEvent = events.observer }
        return UserspaceWireGuard(options: o)
    }

    /// Creates the interface through the library and registers its deletion; returns the PID.
    func createInterface(_ wg: UserspaceWireGuard, _ name: String, in ns: String, address: String, _ cleanup: WGCleanup)
        throws -> pid_t
    {
        let instance = try wg.start(name)
        cleanup.add("wireguard-go \(name)") {
            try wg.deleteInterface(name)
            if T.isAlive(instance.pid), wg.instance(name) != nil { kill(instance.pid, SIGKILL) }
        }
        // Address and link state are rtnetlink, the Netlink module's job: `ip` here.
        try T.run("ip", "-n", ns, "addr", "add", address, "dev", name, "nodad")
        try T.run("ip", "-n", ns, "link", "set", name, "up")
        return instance.pid
    }

    @Test func tunnelConfiguredThroughTheLibrary() throws {
        let cleanup = WGCleanup()
        defer { cleanup.run() }
        let u = Underlay()
        try u.create(cleanup)
        let log = WGRequestLog()
        let wgA = backend(in: u.nsA, log: log)
        let wgB = backend(in: u.nsB, log: log)
        let pidA = try createInterface(wgA, u.ifA, in: u.nsA, address: "fd00:77::1/64", cleanup)
        let pidB = try createInterface(wgB, u.ifB, in: u.nsB, address: "fd00:77::2/64", cleanup)
        #expect(pidA != pidB && T.isAlive(pidA) && T.isAlive(pidB))

        // Keys: set through the library, public halves read back (derived from the private key).
        let keyA = T.randomSecret()
        let keyB = T.randomSecret()
        try wgA.apply(DeviceChange(privateKey: keyA, listenPort: 51820), to: u.ifA)
        try wgB.apply(DeviceChange(privateKey: keyB, listenPort: 51821), to: u.ifB)
        let pubA = try #require(try wgA.device(u.ifA).publicKey)
        let pubB = try #require(try wgB.device(u.ifB).publicKey)
        #expect(pubA != pubB)
        #expect(
            try T.run("wg", "show", u.ifA, "public-key").trimmingCharacters(in: .whitespacesAndNewlines) == pubA.base64)
        let setKeyRequest = log.take(u.ifA)
        #expect(setKeyRequest == ["set=1\nprivate_key=(redacted)\nlisten_port=51820\n\n"])

        // A dials B over IPv6, B dials A over IPv4: both endpoint forms cross the real protocol.
        let peerOfA = PeerConfig(
            publicKey: pubB, endpoint: Endpoint("[fd7e:57::2]:51821"), allowedIPs: [IPPrefix("fd00:77::2/128")!])
        let peerOfB = PeerConfig(
            publicKey: pubA, endpoint: Endpoint("198.51.100.1:51820"), allowedIPs: [IPPrefix("fd00:77::1/128")!],
            persistentKeepalive: 25)
        try wgA.addPeer(peerOfA, to: u.ifA)
        try wgB.addPeer(peerOfB, to: u.ifB)

        // Traffic inside the tunnel: ping6 and a TCP request/response over IPv6.
        try T.run("ip", "netns", "exec", u.nsA, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "fd00:77::2")
        let server = try T.start([
            "ip", "netns", "exec", u.nsB, "socat", "TCP6-LISTEN:7777,bind=[fd00:77::2]", "SYSTEM:read l; echo pong-$l",
        ])
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        var reply = ""
        for _ in 0..<50 where !reply.contains("pong") {
            reply =
                (try? T.run(
                    ["ip", "netns", "exec", u.nsA, "socat", "-t", "2", "-", "TCP6:[fd00:77::2]:7777"], input: "ping\n"))
                ?? ""
            if !reply.contains("pong") { usleep(100_000) }
        }
        #expect(reply.trimmingCharacters(in: .whitespacesAndNewlines) == "pong-ping")

        // `wg show dump` agrees with what was asked.
        let dumpB = try T.run("wg", "show", u.ifB, "dump").split(separator: "\n").map { $0.split(separator: "\t") }
        #expect(dumpB.count == 2)
        #expect(dumpB[0][1] == Substring(pubB.base64) && dumpB[0][2] == "51821" && dumpB[0][3] == "off")
        #expect(dumpB[1][0] == Substring(pubA.base64))
        #expect(dumpB[1][1] == "(none)")
        #expect(dumpB[1][2] == "198.51.100.1:51820")
        #expect(dumpB[1][3] == "fd00:77::1/128")
        #expect(dumpB[1][7] == "25")

        // Read-back: configuration as asked, plus a handshake and traffic.
        let deviceB = try wgB.device(u.ifB)
        #expect(deviceB.publicKey == pubB && deviceB.listenPort == 51821 && deviceB.fwmark == 0)
        // wireguard-go stores the key clamped (RFC 7748), so compare as X25519 keys.
        #expect(deviceB.privateKey.map { DeviceChange.samePrivateKey($0, keyB) } == true)
        #expect(deviceB.peers.map(\.config) == [peerOfB])
        #expect(deviceB.peers[0].lastHandshake != nil)
        #expect(deviceB.peers[0].rxBytes > 0 && deviceB.peers[0].txBytes > 0)

        // Grow A to five peers, then change one: exactly that peer is sent.
        var desired = DeviceConfig(privateKey: keyA, listenPort: 51820, peers: [peerOfA])
        for i in 3...6 {
            desired.peers.append(
                PeerConfig(
                    publicKey: T.randomPublicKey(), endpoint: Endpoint("198.51.100.\(i):51820"),
                    allowedIPs: [IPPrefix("fd00:77::\(i)/128")!]))
        }
        _ = log.take(u.ifA)
        let grow = try wgA.sync(u.ifA, to: desired)
        #expect(grow.peers.count == 4 && !grow.hasDeviceFields, "\(grow.peers)")
        let growText = log.take(u.ifA).first ?? ""
        #expect(growText.components(separatedBy: "public_key=").count == 5, "\(growText)")

        desired.peers[2].allowedIPs = [IPPrefix("fd00:77::4/128")!, IPPrefix("fd00:88::/64")!]
        desired.peers[2].persistentKeepalive = 15
        let one = try wgA.sync(u.ifA, to: desired)
        #expect(
            one.peers == [
                .update(
                    PeerUpdate(
                        publicKey: desired.peers[2].publicKey, allowedIPs: desired.peers[2].allowedIPs,
                        persistentKeepalive: 15))
            ])
        let sent = log.take(u.ifA)
        #expect(
            sent == [
                """
                set=1
                public_key=\(desired.peers[2].publicKey.hex)
                update_only=true
                persistent_keepalive_interval=15
                replace_allowed_ips=true
                allowed_ip=fd00:77::4/128
                allowed_ip=fd00:88::/64


                """
            ])

        // A second sync of the same config sends nothing at all.
        #expect(try wgA.sync(u.ifA, to: desired).isEmpty)
        #expect(log.take(u.ifA).isEmpty)

        // Read-back of A matches the desired configuration, and the tunnel still works.
        let deviceA = try wgA.device(u.ifA)
        // wireguard-go lists peers in its own order. B roamed to the address it dials from
        // (198.51.100.2, IPv4): the diff left that working endpoint alone.
        var expectedA = desired.peers
        expectedA[0].endpoint = Endpoint("198.51.100.2:51821")
        #expect(
            deviceA.peers.map(\.config).sorted { $0.publicKey.base64 < $1.publicKey.base64 }
                == expectedA.sorted { $0.publicKey.base64 < $1.publicKey.base64 })
        let dumpA = try T.run("wg", "show", u.ifA, "dump").split(separator: "\n").map { $0.split(separator: "\t") }
        let changed = try #require(dumpA.first { $0[0] == Substring(desired.peers[2].publicKey.base64) })
        #expect(changed[3] == "fd00:77::4/128,fd00:88::/64" && changed[7] == "15")
        try T.run("ip", "netns", "exec", u.nsA, "ping", "-6", "-c", "1", "-W", "2", "fd00:77::2")

        // Removing a peer sends one `remove=true`.
        let gone = desired.peers.remove(at: 4)
        #expect(try wgA.sync(u.ifA, to: desired).peers == [.remove(gone.publicKey)])
        #expect(log.take(u.ifA) == ["set=1\npublic_key=\(gone.publicKey.hex)\nremove=true\n\n"])
        #expect(try wgA.device(u.ifA).peer(gone.publicKey) == nil)

        // Delete stops each wireguard-go by its PID; TUN and socket go with it.
        try wgA.deleteInterface(u.ifA)
        try wgB.deleteInterface(u.ifB)
        #expect(!T.isAlive(pidA) && !T.isAlive(pidB))
        #expect(!FileManager.default.fileExists(atPath: wgA.socketPath(u.ifA)))
        #expect((try? T.run("ip", "-n", u.nsA, "link", "show", u.ifA)) == nil)
        #expect(!wgA.interfaceExists(u.ifA))
    }

    @Test func errorsFromWireGuardGoNameInterfaceAndErrno() throws {
        let cleanup = WGCleanup()
        defer { cleanup.run() }
        let u = Underlay()
        try u.create(cleanup)
        let wg = backend(in: u.nsA, log: WGRequestLog())
        _ = try createInterface(wg, u.ifA, in: u.nsA, address: "fd00:77::1/64", cleanup)
        _ = try createInterface(wg, u.ifB, in: u.nsA, address: "fd00:78::1/64", cleanup)
        try wg.setListenPort(51900, on: u.ifA)
        // Same namespace, same port: wireguard-go answers errno=-98 (EADDRINUSE).
        #expect(throws: WireGuardError.refused(interface: u.ifB, operation: "set", errno: EADDRINUSE)) {
            try wg.setListenPort(51900, on: u.ifB)
        }
        #expect(throws: WireGuardError.noSuchInterface("wt-none")) { try wg.device("wt-none") }
    }

    @Test func restartsDeadChildAndAdoptsRunningOne() throws {
        let cleanup = WGCleanup()
        defer { cleanup.run() }
        let u = Underlay()
        try u.create(cleanup)
        let events = WGEventLog()
        let supervisor = backend(in: u.nsA, log: WGRequestLog(), events: events, restart: true)
        let pid = try createInterface(supervisor, u.ifA, in: u.nsA, address: "fd00:77::1/64", cleanup)
        let peer = PeerConfig(publicKey: T.randomPublicKey(), allowedIPs: [IPPrefix("fd00:77::9/128")!])
        try supervisor.addPeer(peer, to: u.ifA)

        // A crash is reported and the child restarted under a new PID.
        kill(pid, SIGKILL)
        #expect(T.waitUntil(5) { events.all.contains { if case .restarted = $0 { true } else { false } } })
        let restarted = try #require(supervisor.instance(u.ifA))
        #expect(restarted.pid != pid && restarted.restarts == 1)
        #expect(supervisor.interfaceExists(u.ifA))
        #expect(events.all.contains(.restarted(interface: u.ifA, oldPID: pid, newPID: restarted.pid)))
        #expect(events.all.contains(.exited(interface: u.ifA, pid: pid, how: "killed by signal 9")))
        // A new process has an empty device: re-applying is the owner's job, on `.restarted`.
        #expect(try supervisor.device(u.ifA).peers.isEmpty)
        try supervisor.addPeer(peer, to: u.ifA)

        // An agent restart: a new backend adopts the running wireguard-go with its peers.
        let adopter = backend(in: u.nsA, log: WGRequestLog())
        #expect(
            try adopter.start(u.ifA) == UserspaceWireGuard.Instance(pid: restarted.pid, isChild: false, restarts: 0))
        #expect(try adopter.device(u.ifA).peers.map(\.config) == [peer])
        #expect(adopter.runningInterfaces().contains(u.ifA))

        // A deliberate delete is not a crash: no second restart.
        try supervisor.deleteInterface(u.ifA)
        #expect(!T.isAlive(restarted.pid))
        usleep(200_000)
        #expect(events.all.filter { if case .restarted = $0 { true } else { false } }.count == 1)
        #expect(!supervisor.interfaceExists(u.ifA))

        // Deleting through a backend that did not start it: stopped by the PID its socket reports.
        let plain = backend(in: u.nsA, log: WGRequestLog())
        let other = try createInterface(plain, u.ifB, in: u.nsA, address: "fd00:78::1/64", cleanup)
        try backend(in: u.nsA, log: WGRequestLog()).deleteInterface(u.ifB)
        #expect(T.waitUntil(3) { !T.isAlive(other) })
        #expect(!plain.interfaceExists(u.ifB))
        #expect(!FileManager.default.fileExists(atPath: plain.socketPath(u.ifB)))
    }
}

final class WGEventLog: Sendable {
    private let events = Mutex<[UserspaceWireGuard.Event]>([])
    var observer: @Sendable (UserspaceWireGuard.Event) -> Void { { [self] e in events.withLock { $0.append(e) } } }
    var all: [UserspaceWireGuard.Event] { events.withLock { $0 } }
}
