import Foundation
import OverlayProtocol
import OverlayStore
import Synchronization

/// Nonces of accepted agent requests, kept in the store: every replica on the database sees
/// them, and so does this process after a restart, so a captured request is accepted once
/// wherever it is sent. A nonce is remembered for twice the skew window: past it the request
/// is refused for its time.
final class NonceStore: Sendable {
    let store: Store
    static let window = 2 * AgentSignature.maxSkew
    /// When this process last forgot expired nonces.
    private let lastPrune = Atomic<Int64>(0)

    init(store: Store) {
        self.store = store
    }

    /// Uses up `nonce` of `node` (or of a joining key); throws `.replay` when it was used already.
    func record(node: String, nonce: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws {
        guard try store.useNonce(nonce, scope: node, now: now, window: Self.window) else {
            throw AgentSignatureError.replay
        }
        let last = lastPrune.load(ordering: .relaxed)
        guard now - last > AgentSignature.maxSkew,
            lastPrune.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else { return }
        // Expired nonces only take room: a failed prune fails no request, and the next one retries.
        do { try store.pruneNonces(before: now - Self.window) } catch {
            lastPrune.store(last, ordering: .relaxed)
        }
    }
}
