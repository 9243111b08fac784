import Foundation
import OverlayCrypto
import OverlayHTTPClient
import OverlayModel
import OverlayPlanner
import OverlayProtocol

/// The agent's side of the agent endpoints (see `AgentPaths`): every request signed with the
/// node's Ed25519 identity, answers decoded and size-bounded. One client per agent, over the
/// project's HTTP wrapper (`OverlayHTTPClient.ControllerClient`); `shutdown()` when done.
public struct AgentClient: Sendable {
    public let baseURL: String
    public let identity: Ed25519Identity
    /// The node name the requests are signed as.
    public let node: String
    let http: ControllerClient

    /// A connection attempt longer than this counts as a replica down.
    static let connectTimeout = Duration.seconds(2)
    /// How much later than the long-poll's `wait` its answer may come before the controller
    /// counts as gone (a loaded controller answers well within it).
    static let pollGrace = Duration.seconds(3)

    /// Answers larger than this are refused (a plan for thousands of peers is well below).
    static let maxBody = 16 << 20

    /// - Parameter retryConnecting: keep retrying a refused connection until the request's
    ///   deadline, so that a poll goes through as soon as the one controller is back; false (a
    ///   controller with other replicas) fails at the first refusal, to move on at once.
    public init(
        baseURL: String, identity: Ed25519Identity, node: String, retryConnecting: Bool = true,
        trust: ControllerTrust = .system
    ) throws {
        self.baseURL = baseURL
        self.identity = identity
        self.node = node
        // Two connections: the long-poll holds one, status reports use the other.
        http = try ControllerClient(
            baseURL: baseURL, maxConnections: 2, connectTimeout: Self.connectTimeout,
            retryConnecting: retryConnecting, trust: trust)
    }

    /// Adds announced certificate fingerprints to the pinned set; true when any was new.
    public func pin(_ fingerprints: [CertificateFingerprint]) -> Bool {
        let before = http.pins
        http.pin(fingerprints)
        return http.pins != before
    }

    /// The certificate fingerprints pinned now (empty unless pinning).
    public var pins: [CertificateFingerprint] { http.pins }

    public func shutdown() async { try? await http.shutdown() }

    /// Registers `identity` with a join token; the answer names the node and the controller key.
    public static func join(
        baseURL: String, identity: Ed25519Identity, token: String, retryConnecting: Bool = true,
        trust: ControllerTrust = .system
    ) async throws -> JoinResponse {
        let body = try JSONEncoder().encode(JoinRequest(token: token, identity: identity.publicKeyBase64))
        // Not yet a node: the request is signed as the identity it registers (proof of possession).
        let client = try AgentClient(
            baseURL: baseURL, identity: identity, node: identity.publicKeyBase64, retryConnecting: retryConnecting,
            trust: trust)
        let reply: (UInt, [UInt8])
        do { reply = try await client.send("POST", AgentPaths.join, body: Array(body), timeout: .seconds(15)) } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        let (status, answer) = reply
        guard status == 200 else { throw AgentClientError.refused("the join", Int(status), Self.message(answer)) }
        do { return try JSONDecoder().decode(JoinResponse.self, from: Data(answer)) } catch {
            throw AgentClientError.badAnswer("the join", "\(error)")
        }
    }

    /// Long-polls for a plan newer than `after`: the signed plan, or nil when nothing changed
    /// within `wait` seconds.
    public func plan(after: Int64?, wait: Int) async throws -> SignedPlan? {
        var path = AgentPaths.plan + "?"
        if let after { path += "after=\(after)&" }
        path += "wait=\(wait)"
        // A controller that vanished without a word (no reset) shows as this deadline passing.
        let pins = http.pins
        let (status, answer) = try await send(
            "GET", path, body: [], timeout: .seconds(wait) + Self.pollGrace,
            extraHeaders: pins.isEmpty ? [:] : [AgentPaths.pinsHeader: pins.map(\.description).joined(separator: ",")])
        switch status {
        case 204: return nil
        case 200:
            do { return try JSONDecoder().decode(SignedPlan.self, from: Data(answer)) } catch {
                throw AgentClientError.badAnswer("the plan request", "\(error)")
            }
        default: throw AgentClientError.refused("the plan request", Int(status), Self.message(answer))
        }
    }

    /// Reports status.
    public func report(_ status: AgentStatus) async throws {
        let body = try JSONEncoder().encode(status)
        let (code, answer) = try await send("POST", AgentPaths.status, body: Array(body), timeout: .seconds(15))
        guard (200..<300).contains(code) else {
            throw AgentClientError.refused("the status report", Int(code), Self.message(answer))
        }
    }

    // MARK: - Transport

    func send(
        _ method: String, _ pathAndQuery: String, body: [UInt8], timeout: Duration, extraHeaders: [String: String] = [:]
    ) async throws -> (UInt, [UInt8]) {
        var headers = AgentSignature.headers(
            identity: identity, node: node, method: method, pathAndQuery: pathAndQuery, body: body)
        headers.merge(extraHeaders) { a, _ in a }
        do {
            let reply = try await http.send(
                method: method, pathAndQuery: pathAndQuery, headers: headers, body: body.isEmpty ? nil : body,
                timeout: timeout, maxResponseBytes: Self.maxBody)
            return (UInt(reply.status), reply.body)
        } catch ControllerClientError.unreachable(_, let why), ControllerClientError.notConnected(_, let why) {
            throw AgentClientError.unreachable(baseURL, why)
        } catch let e as ControllerClientError {
            throw AgentClientError.untrusted("\(e)")
        } catch {
            throw AgentClientError.unreachable(baseURL, "\(error)")
        }
    }

    /// The controller's error message (`{"error": "..."}`), or the raw text, shortened.
    static func message(_ body: [UInt8]) -> String {
        if let o = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            if let m = o["error"] as? String { return m }
            if let m = o["message"] as? String { return m }
            if let e = o["error"] as? [String: Any], let m = e["message"] as? String { return m }
        }
        return String(decoding: body.prefix(300), as: UTF8.self)
    }
}

/// What went wrong talking to the controller as an agent: refused, unreadable or unreachable.
public enum AgentClientError: Error, CustomStringConvertible {
    case unreachable(String, String)
    case refused(String, Int, String)
    case badAnswer(String, String)
    /// The controller presented a certificate that is not pinned.
    case untrusted(String)

    public var description: String {
        switch self {
        case .untrusted(let why): why
        case .unreachable(let url, let why): "controller \(url) unreachable: \(why)"
        case .refused(let what, let status, let message): "controller refused \(what) (HTTP \(status)): \(message)"
        case .badAnswer(let what, let why): "controller answered \(what) with something unexpected: \(why)"
        }
    }

    /// The replica asked cannot serve at all (no answer, or 503: it lost its database): another
    /// replica of the same controller may.
    public var isReplicaDown: Bool {
        switch self {
        case .unreachable: true
        case .refused(_, let s, _): s == 503
        // Replicas present one certificate: one that is not trusted is not an outage.
        case .badAnswer, .untrusted: false
        }
    }

    /// A refusal of the request itself (4xx other than 408/429): retrying the same thing will not help.
    public var isPermanent: Bool {
        if case .refused(_, let s, _) = self { return (400..<500).contains(s) && s != 408 && s != 429 }
        return false
    }
}
