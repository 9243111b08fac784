import Crypto
import Foundation
import NIOSSL
import OverlayModel
import SwiftASN1
import SystemCalls
import X509

/// The certificate and key `overlayd` serves HTTPS with: the operator's (`--tls-cert/--tls-key`),
/// or a self-signed one it made on first start and keeps beside the database (`DB.tls-cert`, key
/// `DB.tls-key`, 0600). Clients pin it by `fingerprint`.
public struct ControllerCertificate: Sendable {
    public var certificatePath: String
    public var keyPath: String
    public var fingerprint: CertificateFingerprint
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey

    /// The server side of TLS: this chain and key, TLS 1.2 or newer.
    public func serverConfiguration() -> TLSConfiguration {
        var c = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        c.minimumTLSVersion = .tlsv12
        return c
    }
}

/// Where the certificates live, and how they are made and read.
public enum ControllerCertificateFile {
    /// The self-signed certificate and key kept beside `database`.
    public static func paths(database: String) -> (certificate: String, key: String) {
        (database + ".tls-cert", database + ".tls-key")
    }

    /// The staged next certificate and key: announced to agents until promoted.
    public static func nextPaths(database: String) -> (certificate: String, key: String) {
        (database + ".tls-next-cert", database + ".tls-next-key")
    }

    /// Loads the certificate and key at the given paths; when neither file exists, makes a
    /// self-signed pair first, valid for `names` (IP addresses and DNS names).
    public static func loadOrCreate(certificate: String, key: String, names: [String]) throws -> (
        ControllerCertificate, created: Bool
    ) {
        let fm = FileManager.default
        switch (fm.fileExists(atPath: certificate), fm.fileExists(atPath: key)) {
        case (false, false):
            try create(certificate: certificate, key: key, names: names)
            return (try load(certificate: certificate, key: key), true)
        case (true, true): return (try load(certificate: certificate, key: key), false)
        case (true, false):
            throw ControllerCertificateError(description: "\(certificate) exists but its key \(key) does not")
        case (false, true):
            throw ControllerCertificateError(description: "\(key) exists but its certificate \(certificate) does not")
        }
    }

    /// Loads a PEM certificate chain (leaf first) and its PEM private key; the key must not be
    /// readable by group or others.
    public static func load(certificate: String, key: String) throws -> ControllerCertificate {
        var st = stat()
        do throws(SystemCallError) { try systemCall("stat", key) { stat(key, &st) } } catch {
            throw ControllerCertificateError(description: "cannot read the TLS key: \(error)")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw ControllerCertificateError(
                description: "\(key) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it"
            )
        }
        let chain: [NIOSSLCertificate]
        let privateKey: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw ControllerCertificateError(description: "\(certificate) is not a PEM certificate: \(error)")
        }
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw ControllerCertificateError(description: "\(key) is not a PEM private key: \(error)")
        }
        guard let leaf = chain.first else {
            throw ControllerCertificateError(description: "\(certificate) holds no certificate")
        }
        return ControllerCertificate(
            certificatePath: certificate, keyPath: key, fingerprint: try fingerprint(leaf), chain: chain,
            key: privateKey)
    }

    /// The fingerprint of the first certificate in a PEM file.
    public static func fingerprint(pemFile path: String) throws -> CertificateFingerprint {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(path) } catch {
            throw ControllerCertificateError(description: "\(path) is not a PEM certificate: \(error)")
        }
        guard let leaf = chain.first else { throw ControllerCertificateError(description: "\(path) is empty") }
        return try fingerprint(leaf)
    }

    static func fingerprint(_ certificate: NIOSSLCertificate) throws -> CertificateFingerprint {
        CertificateFingerprint(bytes: Array(SHA256.hash(data: try certificate.toDERBytes())))
    }

    /// The DNS names and IP addresses a PEM certificate is valid for (its SANs).
    public static func names(pemFile path: String) throws -> [String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ControllerCertificateError(description: "cannot read \(path): \(error)")
        }
        let cert: Certificate
        do { cert = try Certificate(pemEncoded: text) } catch {
            throw ControllerCertificateError(description: "\(path) is not a PEM certificate: \(error)")
        }
        var out: [String] = []
        for name in (try? cert.extensions.subjectAlternativeNames) ?? nil ?? SubjectAlternativeNames() {
            switch name {
            case .dnsName(let n): out.append(n)
            case .ipAddress(let a):
                if let ip = IPAddress(bytes: Array(a.bytes)) { out.append(ip.description) }
            default: continue
            }
        }
        return out
    }

    /// The names a certificate for `listenHost` and `extra` covers: the listen address unless it is
    /// a wildcard, then each extra name; `localhost` when that leaves none.
    public static func names(listenHost: String, extra: [String]) -> [String] {
        var names: [String] = []
        if let ip = IPAddress(listenHost), ip.bytes.allSatisfy({ $0 == 0 }) {
        } else {
            names.append(listenHost)
        }
        for n in extra where !names.contains(n) { names.append(n) }
        return names.isEmpty ? ["localhost"] : names
    }

    /// Whether `host` is `localhost` or a loopback address (127.0.0.0/8, ::1).
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        guard let ip = IPAddress(host) else { return false }
        return ip.isIPv6 ? ip.bytes == Array(repeating: 0, count: 15) + [1] : ip.bytes[0] == 127
    }

    /// Checks one `--tls-name`: an IP address or a DNS name.
    public static func validateName(_ name: String) throws {
        if IPAddress(name) != nil { return }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let ok =
            name.utf8.count <= 253 && !labels.isEmpty
            && labels.allSatisfy { l in
                !l.isEmpty && l.utf8.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                    && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            }
        guard ok else {
            throw ValidationError("--tls-name", name, allowed: "an IP address or a DNS name such as ctl.example.net")
        }
    }

    /// Makes a self-signed ECDSA P-256 certificate for `names`, valid ten years, and writes it
    /// (0644) and its key (0600, created exclusively) to the given paths.
    public static func create(certificate: String, key: String, names: [String]) throws {
        let (certPEM, keyPEM) = try generate(names: names, now: Date())
        do throws(SystemCallError) {
            try writeExclusively(keyPEM, to: key, mode: 0o600)
            try writeExclusively(certPEM, to: certificate, mode: 0o644)
        } catch {
            throw ControllerCertificateError(description: "cannot create the TLS certificate: \(error)")
        }
    }

    /// A self-signed server certificate and its key, both PEM.
    public static func generate(names: [String], now: Date) throws -> (certificate: String, key: String) {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(names.first ?? "overlayd") }
        var sans: [GeneralName] = []
        for n in names {
            if let ip = IPAddress(n) {
                sans.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip.bytes))))
            } else {
                sans.append(.dnsName(n))
            }
        }
        // Its own issuer: TLS libraries take a self-signed certificate as a trust anchor only when
        // it may sign certificates (as `openssl req -x509` makes them), so clients can pin it as
        // a CA file. No path below it: it signs nothing else.
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(sans)
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 10 * 365 * 86400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions, issuerPrivateKey: .init(key))
        return (try cert.serializeAsPEM().pemString + "\n", key.pemRepresentation + "\n")
    }

    private static func writeExclusively(_ text: String, to path: String, mode: mode_t) throws(SystemCallError) {
        let bytes = Array(text.utf8)
        let fd = try systemCall("create", path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
        defer { close(fd) }
        // The umask must not loosen or tighten what the file is meant to be.
        try systemCall("fchmod", path) { fchmod(fd, mode) }
        let n = try systemCall("write", path) { bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        guard n == bytes.count else { throw SystemCallError(call: "write", object: path, errno: .EIO) }
        try systemCall("fsync", path) { fsync(fd) }
    }
}

/// Why the TLS certificate cannot be loaded or made.
public struct ControllerCertificateError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}
