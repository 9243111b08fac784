import Foundation
import Hummingbird
import OverlayAPI
import OverlayController
import OverlayProtocol

/// The admin endpoints: one per `overlayctl` command, answering the same values (docs/api.yaml).
extension ControllerServer {
    func addAdminRoutes(_ v1: RouterGroup<ServerContext>) {
        let a = admin
        v1.post("networks") { req, _ in
            JSONResponse.make(try await a.createNetwork(try await Self.decode(req)), status: .created)
        }
        v1.get("networks") { _, _ in JSONResponse.make(try await a.networks()) }
        v1.get("networks/{name}") { _, c in JSONResponse.make(try await a.network(named: try Self.name(c))) }
        v1.delete("networks/{name}") { _, c in JSONResponse.make(try await a.deleteNetwork(name: try Self.name(c))) }
        v1.patch("networks/{name}") { req, c in
            JSONResponse.make(try await a.updateNetwork(name: try Self.name(c), try await Self.decode(req)))
        }
        v1.post("networks/{name}/members") { req, c in
            let r: AttachRequest = try await Self.decode(req)
            return JSONResponse.make(try await a.attach(network: try Self.name(c), node: r.node))
        }
        v1.delete("networks/{name}/members/{node}") { _, c in
            JSONResponse.make(try await a.detach(network: try Self.name(c), node: try Self.name(c, "node")))
        }
        v1.get("networks/{name}/graph") { _, c in
            JSONResponse.make(GraphView(dot: try await a.graph(network: try Self.name(c))))
        }

        v1.post("nodes") { req, _ in
            JSONResponse.make(try await a.addNode(try await Self.decode(req)), status: .created)
        }
        v1.get("nodes") { _, _ in JSONResponse.make(try await a.nodes()) }
        v1.get("nodes/{name}") { _, c in JSONResponse.make(try await a.node(named: try Self.name(c))) }
        v1.delete("nodes/{name}") { _, c in JSONResponse.make(try await a.removeNode(name: try Self.name(c))) }
        let pins = tlsFingerprints
        v1.post("nodes/{name}/join-tokens") { req, c in
            var view = try await a.createJoinToken(node: try Self.name(c), try await Self.decode(req))
            // The token carries the certificates this controller presents, so the agent pins them.
            view.token = JoinToken(secret: view.token, fingerprints: pins).description
            return JSONResponse.make(view, status: .created)
        }
        v1.get("nodes/{name}/join-tokens") { _, c in JSONResponse.make(try await a.joinTokens(node: try Self.name(c))) }
        v1.get("join-tokens") { _, _ in JSONResponse.make(try await a.joinTokens(node: nil)) }
        v1.delete("join-tokens/{id}") { _, c in
            JSONResponse.make(try await a.revokeJoinToken(id: try Self.name(c, "id")))
        }
        v1.get("nodes/{name}/plan") { _, c in JSONResponse.make(try await a.plan(node: try Self.name(c))) }

        v1.post("workloads") { req, _ in
            JSONResponse.make(try await a.addWorkload(try await Self.decode(req)), status: .created)
        }
        v1.get("workloads") { _, _ in JSONResponse.make(try await a.workloads()) }
        v1.get("workloads/{name}") { _, c in JSONResponse.make(try await a.workload(named: try Self.name(c))) }
        v1.delete("workloads/{name}") { _, c in JSONResponse.make(try await a.removeWorkload(name: try Self.name(c))) }

        v1.post("access-peers") { req, _ in
            JSONResponse.make(try await a.addAccessPeer(try await Self.decode(req)), status: .created)
        }
        v1.get("access-peers") { _, _ in JSONResponse.make(try await a.accessPeers()) }
        v1.delete("access-peers/{name}") { _, c in
            JSONResponse.make(try await a.removeAccessPeer(name: try Self.name(c)))
        }

        v1.post("gateway-routes") { req, _ in
            JSONResponse.make(try await a.addGatewayRoute(try await Self.decode(req)), status: .created)
        }
        v1.get("gateway-routes") { _, _ in JSONResponse.make(try await a.gatewayRoutes()) }
        v1.delete("gateway-routes/{name}") { _, c in
            JSONResponse.make(try await a.removeGatewayRoute(name: try Self.name(c)))
        }

        v1.post("apply") { req, _ in JSONResponse.make(try await a.apply(try await Self.decode(req))) }
    }

    static func decode<T: Codable>(_ request: Request) async throws -> T {
        let bytes = try await body(request)
        // An empty body is refused by the decoder, whatever its type.
        if !bytes.isEmpty { try StrictJSON.checkContentType(request.headers[.contentType]) }
        return try StrictJSON.decode(T.self, from: bytes)
    }

    /// A name from the path, percent-decoded.
    static func name(_ context: ServerContext, _ parameter: String = "name") throws -> String {
        let raw = try context.parameters.require(parameter)
        return raw.removingPercentEncoding ?? raw
    }
}
