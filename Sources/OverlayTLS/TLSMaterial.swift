import COpenSSL
import Foundation
import OverlayModel

/// Checks what an operator hands over for TLS termination at a gateway: a PEM certificate chain
/// and the PEM private key of its first certificate (libcrypto parses both; nothing is written).
public enum TLSMaterial {
    public struct Checked: Sendable, Equatable {
        /// Only the certificates, re-encoded as PEM: whatever else the file held (a private key
        /// pasted in by mistake) is dropped here, so it can never reach the store in clear.
        public var certificateChain: String
        /// The leaf's subject and validity end, for messages.
        public var subject: String
    }

    /// Parses `certificate` (one or more PEM certificates, the leaf first) and `key` (an
    /// unencrypted PEM private key), checks that the key belongs to the leaf and, when `host` is
    /// given, that the leaf covers that name. `certificateSource` and `keySource` name the inputs
    /// in errors (file names, usually).
    public static func check(
        certificate: String, certificateSource: String, key: SecretKey, keySource: String,
        host: String?
    ) throws -> Checked {
        let chain = try certificates(certificate, source: certificateSource)
        defer { for c in chain { X509_free(c) } }
        let leaf = chain[0]
        let pkey = try privateKey(key, source: keySource)
        defer { EVP_PKEY_free(pkey) }
        guard X509_check_private_key(leaf, pkey) == 1 else {
            ERR_clear_error()
            throw ValidationError(
                "key", keySource,
                allowed:
                    "the private key of the certificate in \(certificateSource) (\(subject(leaf))); this key belongs to another certificate"
            )
        }
        if let host {
            let ok = host.withCString { X509_check_host(leaf, $0, strlen($0), 0, nil) } == 1
            guard ok else {
                throw ValidationError(
                    "certificate", certificateSource,
                    allowed:
                        "a certificate for '\(host)' (its subject or subjectAltName); this one is for \(subject(leaf))")
            }
        }
        var pem = ""
        for c in chain { pem += try encode(c) }
        return Checked(certificateChain: pem, subject: subject(leaf))
    }

    // MARK: - libcrypto

    static func memoryBIO(_ bytes: UnsafeRawBufferPointer) -> OpaquePointer? {
        BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count))
    }

    static func certificates(_ text: String, source: String) throws -> [OpaquePointer] {
        let allowed = "a PEM certificate (-----BEGIN CERTIFICATE-----), the server's first, then its chain"
        var chain: [OpaquePointer] = []
        Array(text.utf8).withUnsafeBytes { raw in
            guard let bio = memoryBIO(raw) else { return }
            defer { BIO_free(bio) }
            while let c = PEM_read_bio_X509(bio, nil, nil, nil) { chain.append(c) }
        }
        ERR_clear_error()  // the loop ends on "no start line"
        guard !chain.isEmpty else { throw ValidationError("certificate", source, allowed: allowed) }
        return chain
    }

    static func privateKey(_ key: SecretKey, source: String) throws -> OpaquePointer {
        let pkey = key.withBytes { raw -> OpaquePointer? in
            guard let bio = memoryBIO(raw) else { return nil }
            defer { BIO_free(bio) }
            // A passphrase callback that refuses: an encrypted key fails here instead of prompting.
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
        ERR_clear_error()
        guard let pkey else {
            throw ValidationError(
                "key", source,
                allowed: "an unencrypted PEM private key (-----BEGIN PRIVATE KEY----- or RSA/EC PRIVATE KEY)")
        }
        return pkey
    }

    static func encode(_ cert: OpaquePointer) throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw ValidationError("certificate", "", allowed: "memory") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, cert) == 1 else {
            throw ValidationError("certificate", "", allowed: "an encodable X.509 certificate")
        }
        var out = [UInt8](repeating: 0, count: 64 * 1024)
        var text = ""
        while true {
            let n = BIO_read(bio, &out, Int32(out.count))
            if n <= 0 { break }
            text += String(decoding: out[0..<Int(n)], as: UTF8.self)
        }
        return text
    }

    static func subject(_ cert: OpaquePointer) -> String {
        guard let name = X509_get_subject_name(cert) else { return "an unnamed certificate" }
        var buffer = [CChar](repeating: 0, count: 256)
        X509_NAME_oneline(name, &buffer, Int32(buffer.count))
        return String(cString: buffer)
    }
}
