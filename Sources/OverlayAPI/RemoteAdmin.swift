import Foundation
import OverlayController
import OverlayHTTPClient
import OverlayModel
import OverlayPlanner

/// The admin use cases on a running `overlayd`, over HTTP with a bearer token. A controller
/// running as several replicas is named by all of them: a request goes to the first, and on to
/// the next when one cannot serve it (see `shouldTryNext`).
public struct RemoteAdmin: AdminAPI {
    /// One client per replica, tried in this order.
    let clients: [ControllerClient]
    let token: String

    public init(client: ControllerClient, token: String) {
        self.init(clients: [client], token: token)
    }

    /// - Parameter clients: at least one.
    public init(clients: [ControllerClient], token: String) {
        precondition(!clients.isEmpty, "an admin API needs a controller")
        self.clients = clients
        self.token = token
    }

    func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = nil as String?) async throws
        -> T
    {
        var bytes: [UInt8]?
        if let body { bytes = Array(try JSONEncoder().encode(body)) }
        let reply = try await send(method, path, body: bytes)
        guard (200..<300).contains(reply.status) else {
            throw RemoteAdminError(status: reply.status, message: Self.message(reply))
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(reply.body))
        } catch {
            throw RemoteAdminError(
                status: reply.status, message: "unexpected answer from the controller for \(method) \(path): \(error)")
        }
    }

    /// The first answer of a replica that could serve the request; every replica's failure when
    /// none could.
    func send(_ method: String, _ path: String, body: [UInt8]?) async throws -> ControllerClient.Reply {
        var failures: [String] = []
        for client in clients {
            do {
                let reply = try await client.send(
                    method: method, pathAndQuery: path,
                    headers: ["Authorization": "Bearer \(token)", "Accept": "application/json"],
                    body: body, timeout: .seconds(60))
                guard reply.status == 503, clients.count > 1 else { return reply }
                failures.append("the controller at \(client.baseURL) answered HTTP 503: \(Self.message(reply))")
            } catch let error as ControllerClientError {
                guard clients.count > 1 else { throw error }
                failures.append("\(error)")
                guard Self.shouldTryNext(method: method, after: error) else {
                    throw ControllerReplicasError(failures: failures, mayHaveApplied: true)
                }
            }
        }
        throw ControllerReplicasError(failures: failures, mayHaveApplied: false)
    }

    /// Whether a request that failed this way may go to the next replica: always when it never
    /// left (no connection); after a broken connection or a late answer only when it changes
    /// nothing (GET), since the replica may have carried it out.
    public static func shouldTryNext(method: String, after error: ControllerClientError) -> Bool {
        switch error {
        case .notConnected: true
        case .unreachable: method.uppercased() == "GET"
        // Replicas present one certificate: a mismatch is an answer, not an outage.
        case .badURL, .fingerprintMismatch, .noCertificate: false
        }
    }

    /// The controller's error message, or the status and the start of the body.
    static func message(_ reply: ControllerClient.Reply) -> String {
        (try? JSONDecoder().decode(ErrorBody.self, from: Data(reply.body)))?.error
            ?? "the controller answered HTTP \(reply.status): \(String(decoding: reply.body.prefix(200), as: UTF8.self))"
    }

    static func seg(_ s: String) -> String { AdminPaths.segment(s) }

    public func createNetwork(_ r: CreateNetworkRequest) async throws -> NetworkView {
        try await call("POST", AdminPaths.networks, body: r)
    }
    public func networks() async throws -> [NetworkView] { try await call("GET", AdminPaths.networks) }
    public func network(named name: String) async throws -> NetworkDetailView {
        try await call("GET", AdminPaths.networks + "/" + Self.seg(name))
    }
    public func deleteNetwork(name: String) async throws -> ChangeView {
        try await call("DELETE", AdminPaths.networks + "/" + Self.seg(name))
    }
    public func updateNetwork(name: String, _ r: UpdateNetworkRequest) async throws -> ChangeView {
        try await call("PATCH", AdminPaths.networks + "/" + Self.seg(name), body: r)
    }
    public func attach(network: String, node: String) async throws -> ChangeView {
        try await call(
            "POST", AdminPaths.networks + "/" + Self.seg(network) + "/members", body: AttachRequest(node: node))
    }
    public func detach(network: String, node: String) async throws -> ChangeView {
        try await call("DELETE", AdminPaths.networks + "/" + Self.seg(network) + "/members/" + Self.seg(node))
    }
    public func graph(network: String) async throws -> String {
        let g: GraphView = try await call("GET", AdminPaths.networks + "/" + Self.seg(network) + "/graph")
        return g.dot
    }

    public func addNode(_ r: AddNodeRequest) async throws -> NodeView {
        try await call("POST", AdminPaths.nodes, body: r)
    }
    public func nodes() async throws -> [NodeView] { try await call("GET", AdminPaths.nodes) }
    public func node(named name: String) async throws -> NodeDetailView {
        try await call("GET", AdminPaths.nodes + "/" + Self.seg(name))
    }
    public func removeNode(name: String) async throws -> ChangeView {
        try await call("DELETE", AdminPaths.nodes + "/" + Self.seg(name))
    }
    public func createJoinToken(node: String, _ r: JoinTokenRequest) async throws -> JoinTokenView {
        try await call("POST", AdminPaths.nodes + "/" + Self.seg(node) + "/join-tokens", body: r)
    }
    public func joinTokens(node: String?) async throws -> [JoinTokenInfoView] {
        try await call(
            "GET", node.map { AdminPaths.nodes + "/" + Self.seg($0) + "/join-tokens" } ?? AdminPaths.joinTokens)
    }
    public func revokeJoinToken(id: String) async throws -> JoinTokenInfoView {
        try await call("DELETE", AdminPaths.joinTokens + "/" + Self.seg(id))
    }
    public func plan(node: String) async throws -> NodePlan {
        try await call("GET", AdminPaths.nodes + "/" + Self.seg(node) + "/plan")
    }

    public func addWorkload(_ r: AddWorkloadRequest) async throws -> WorkloadView {
        try await call("POST", AdminPaths.workloads, body: r)
    }
    public func workloads() async throws -> [WorkloadView] { try await call("GET", AdminPaths.workloads) }
    public func workload(named name: String) async throws -> WorkloadView {
        try await call("GET", AdminPaths.workloads + "/" + Self.seg(name))
    }
    public func removeWorkload(name: String) async throws -> ChangeView {
        try await call("DELETE", AdminPaths.workloads + "/" + Self.seg(name))
    }

    public func addAccessPeer(_ r: AddAccessPeerRequest) async throws -> AccessGrantView {
        try await call("POST", AdminPaths.accessPeers, body: r)
    }
    public func accessPeers() async throws -> [AccessPeer] { try await call("GET", AdminPaths.accessPeers) }
    public func removeAccessPeer(name: String) async throws -> ChangeView {
        try await call("DELETE", AdminPaths.accessPeers + "/" + Self.seg(name))
    }

    public func addGatewayRoute(_ r: AddGatewayRouteRequest) async throws -> GatewayRoute {
        try await call("POST", AdminPaths.gatewayRoutes, body: r)
    }
    public func gatewayRoutes() async throws -> [GatewayRoute] { try await call("GET", AdminPaths.gatewayRoutes) }
    public func removeGatewayRoute(name: String) async throws -> ChangeView {
        try await call("DELETE", AdminPaths.gatewayRoutes + "/" + Self.seg(name))
    }

    public func apply(_ r: ApplyRequest) async throws -> ApplyResultView {
        try await call("POST", AdminPaths.apply, body: r)
    }
}

/// An error answer of the controller: its message is what the local command would print.
public struct RemoteAdminError: Error, CustomStringConvertible, Equatable {
    public var status: Int
    public var message: String
    public var description: String { message }
}

/// No replica of the controller could serve a request: each one's failure, in the order tried.
public struct ControllerReplicasError: Error, CustomStringConvertible, Equatable {
    public var failures: [String]
    /// The last replica lost the connection after the request went out: it may have carried
    /// out the change, so it was not sent again elsewhere.
    public var mayHaveApplied: Bool

    public init(failures: [String], mayHaveApplied: Bool) {
        self.failures = failures
        self.mayHaveApplied = mayHaveApplied
    }

    public var description: String {
        let head =
            mayHaveApplied
            ? "the controller replica lost the request; it may have been carried out, so it was not sent to another (check, then retry)"
            : "no controller replica could serve the request"
        return head + ":\n" + failures.map { "  " + $0 }.joined(separator: "\n")
    }
}
