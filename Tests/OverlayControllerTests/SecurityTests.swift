import Foundation
import OverlayCrypto
import OverlayModel
import OverlayPlanner
import Testing

@testable import OverlayController

@Suite("Security")
struct SecurityTests {
    /// The raw bytes of the database and its WAL and shared-memory files.
    static func databaseBytes(_ db: TestDB) throws -> [(String, Data)] {
        try ["", "-wal", "-shm", "-journal"].compactMap { suffix in
            let path = db.path + suffix
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return (path, try Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    // The SQLite file's own bytes; on PostgreSQL the dump test below covers the rows.
    @Test("no private key appears in the database files, in base64 or raw")
    func noPlaintextPrivateKeys() throws {
        let db = try TestDB(.sqlite)
        let c = db.controller
        try c.createNetwork(name: "alpha")
        try c.createNetwork(name: "beta")
        try db.node("hub1", public: "198.51.100.1", hub: true)
        try db.node("hub2", public: "198.51.100.2", hub: true)
        try db.node("plain", public: "198.51.100.3")
        try db.node("hidden")
        for (i, (node, network)) in [("plain", "alpha"), ("plain", "beta"), ("hidden", "alpha"), ("hub2", "beta")]
            .enumerated()
        {
            try c.addWorkload(name: "w\(i)", network: network, node: node)
        }
        // Generated access keys: the private key is printed once in the wg-quick text.
        var privateKeys: [(String, SecretKey)] = []
        for (i, network) in ["alpha", "beta", "alpha"].enumerated() {
            let grant = try c.addAccessPeer(name: "device\(i)", network: network)
            let text = try #require(grant.wgQuick.split(separator: "\n").first { $0.hasPrefix("PrivateKey = ") })
            let key = try #require(
                SecretKey(base64: String(text.dropFirst("PrivateKey = ".count))),
                "wg-quick text has no usable private key:\n\(grant.wgQuick)")
            #expect(
                X25519.publicKey(for: key) == grant.peer.publicKey,
                "the printed private key must match the stored public key")
            privateKeys.append(("access peer device\(i)", key))
        }
        // Membership keys: open the sealed keys from the plans with each node's identity.
        var publicKeys: [WireGuardKey] = []
        for node in try c.nodes() {
            let identity = try #require(db.identities[node.name])
            for r in try c.plan(node: node.name).networks {
                let sealed = try #require(Data(base64Encoded: r.sealedPrivateKey))
                let key = try SealedBox.open(Array(sealed), with: identity)
                #expect(X25519.publicKey(for: key) == r.publicKey, "\(node.name)/\(r.name): sealed key does not match")
                privateKeys.append(("\(node.name) in \(r.name)", key))
                publicKeys.append(r.publicKey)
                // Only its own node can open it.
                let other = try #require(db.identities.first { $0.key != node.name }?.value)
                #expect(throws: CryptoError.openFailed) { try SealedBox.open(Array(sealed), with: other) }
            }
        }
        // 3 access peers; memberships: plain x2, hidden, hub2 in beta, and both hubs relaying in alpha.
        #expect(privateKeys.count == 3 + 6, "expected keys to look for, got \(privateKeys.count)")

        let files = try Self.databaseBytes(db)
        #expect(!files.isEmpty)
        // The search works: public keys are stored in clear (as their 32 raw bytes) and must be found.
        for k in publicKeys {
            #expect(files.contains { $0.1.contains(k.bytes) }, "public key \(k) not found: the search is broken")
        }
        for (what, key) in privateKeys {
            let raw = key.withBytes { Array($0) }
            let forms: [(String, [UInt8])] = [
                ("raw", raw), ("base64", Array(key.base64.utf8)), ("hex", Array(key.hex.utf8)),
                ("base64 without padding", Array(key.base64.dropLast().utf8)),
            ]
            for (path, data) in files {
                for (form, bytes) in forms {
                    #expect(!data.contains(bytes), "the private key of \(what) is in \(path) as \(form)")
                }
            }
        }
    }

    @Test("the database file is created 0600")
    func permissions() throws {
        let db = try TestDB(.sqlite)
        let attributes = try FileManager.default.attributesOfItem(atPath: db.path)
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
        #expect(mode & 0o077 == 0, "database mode is \(String(mode, radix: 8))")
    }

    @Test(
        "an access peer with a given public key gets a wg-quick file without any private key", arguments: TestEngine.all
    )
    func givenKey(_ engine: TestEngine) throws {
        let db = try TestDB(engine)
        try db.controller.createNetwork(name: "alpha", prefix: "fd12:3456:789a::/48")
        try db.node("hub1", public: "198.51.100.1", hub: true)
        let key = X25519.generateKeyPair().publicKey
        let grant = try db.controller.addAccessPeer(name: "laptop", network: "alpha", publicKey: key.base64)
        #expect(grant.peer.publicKey == key)
        #expect(grant.address.description == "fd12:3456:789a:ffff::2")
        #expect(grant.wgQuick.contains("PrivateKey = <the private key of \(key.base64)>"))
        #expect(grant.wgQuick.contains("AllowedIPs = fd12:3456:789a::/48"))
        #expect(grant.wgQuick.contains("Endpoint = 198.51.100.1:51820"))
        // The hub joined the network to carry it.
        #expect(try db.controller.network(named: "alpha").members.map(\.node.name) == ["hub1"])
    }
}
