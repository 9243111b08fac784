import Testing

@testable import OverlayModel

@Suite("Certificate fingerprints")
struct CertificateFingerprintTests {
    let bytes: [UInt8] = (0..<32).map { UInt8($0 * 7 & 0xFF) }

    @Test("sha256:HEX round-trips, in either case and with openssl's colons")
    func parsing() throws {
        let f = CertificateFingerprint(bytes: bytes)
        #expect(f.description.hasPrefix("sha256:") && f.description.count == 7 + 64)
        #expect(try CertificateFingerprint(parsing: f.description) == f)
        #expect(try CertificateFingerprint(parsing: f.description.uppercased()) == f)
        let hex = String(f.description.dropFirst(7))
        var pairs: [String] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            pairs.append(String(hex[i..<j]).uppercased())
            i = j
        }
        #expect(try CertificateFingerprint(parsing: "SHA256:" + pairs.joined(separator: ":")) == f)
        #expect(try CertificateFingerprint(parsing: hex) == f)
    }

    @Test(
        "anything else is refused naming the value and the form",
        arguments: [
            "", "sha256:", "sha256:abc", "md5:" + String(repeating: "a", count: 64),
            "sha256:" + String(repeating: "g", count: 64), "sha256:" + String(repeating: "a", count: 66),
        ])
    func refused(text: String) {
        #expect {
            try CertificateFingerprint(parsing: text)
        } throws: { error in
            let message = "\(error)"
            return message.contains("invalid certificate fingerprint '\(Quote.bounded(text))'")
                && message.contains("64 hex digits")
        }
    }

    @Test("the token form is 43 URL-safe characters and round-trips; others are refused")
    func tokenForm() {
        let f = CertificateFingerprint(bytes: bytes)
        #expect(f.tokenForm.count == 43)
        #expect(f.tokenForm.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        #expect(CertificateFingerprint(tokenForm: f.tokenForm) == f)
        #expect(CertificateFingerprint(tokenForm: String(f.tokenForm.dropLast())) == nil)
        #expect(CertificateFingerprint(tokenForm: String(f.tokenForm.dropLast()) + "+") == nil)
        // The last character carries two spare bits: a non-zero one is not a canonical form.
        #expect(CertificateFingerprint(tokenForm: String(f.tokenForm.dropLast()) + "B") == nil)
    }
}
