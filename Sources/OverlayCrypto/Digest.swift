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
