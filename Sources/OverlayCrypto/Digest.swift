import CSodium

/// BLAKE2b, for hashing tokens before they are stored and for content digests.
public enum Digest {
    public static func blake2b(_ data: [UInt8], length: Int = 32) -> [UInt8] {
        Sodium.ensure()
        var out = [UInt8](repeating: 0, count: length)
        crypto_generichash(&out, length, data, UInt64(data.count), nil, 0)
        return out
    }
}

extension Digest {
    /// SHA-256, for request body hashes in the agent protocol (a hash every HTTP tool can compute).
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        Sodium.ensure()
        var out = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        crypto_hash_sha256(&out, data, UInt64(data.count))
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}
