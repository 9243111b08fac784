import Foundation
import Glibc

/// Secret bytes (a WireGuard private key, a seed) kept in one heap buffer that is wiped when the
/// last reference goes away. It is a class so copies share one buffer and nothing is left behind.
public final class SecretKey: @unchecked Sendable {
    // Immutable after init; @unchecked because the buffer is a raw pointer.
    private let storage: UnsafeMutableRawBufferPointer

    public init(count: Int) {
        storage = .allocate(byteCount: count, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
    }

    /// Copies `bytes` in. The caller should wipe its own copy.
    public convenience init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count)
        for (i, b) in bytes.enumerated() { storage[i] = b }
    }

    /// Parses 44-character base64 (a wg-quick `PrivateKey`).
    public convenience init?(base64: String) {
        guard let key = WireGuardKey(base64: base64) else { return nil }
        self.init(copying: key.bytes)
    }

    deinit {
        if let base = storage.baseAddress { explicit_bzero(base, storage.count) }
        storage.deallocate()
    }

    public var count: Int { storage.count }

    /// Lends the bytes for the duration of `body`; do not let them escape.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    public func withMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(storage)
    }

    /// Base64 text, for a wg-quick file shown once. The caller owns the string it gets.
    public var base64: String {
        // One temporary copy, wiped before returning.
        var copy = withBytes { Array($0) }
        defer { explicit_bzero(&copy, copy.count) }
        return Data(copy).base64EncodedString()
    }

    /// Lowercase hex, for the UAPI protocol.
    public var hex: String {
        withBytes { raw in raw.map { String(format: "%02x", $0) }.joined() }
    }
}

extension SecretKey: Equatable {
    /// Constant-time comparison.
    public static func == (a: SecretKey, b: SecretKey) -> Bool {
        guard a.count == b.count else { return false }
        return a.withBytes { x in
            b.withBytes { y in
                var diff: UInt8 = 0
                for i in 0..<x.count { diff |= x[i] ^ y[i] }
                return diff == 0
            }
        }
    }
}
