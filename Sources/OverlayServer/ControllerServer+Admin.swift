import Foundation
import Hummingbird
import OverlayAPI
import OverlayController
import OverlayProtocol

/// The admin endpoints: one per `overlayctl` command, answering the same values (docs/api.yaml).
extension ControllerServer {
    func addAdminRoutes(_ v1: RouterGroup<ServerContext>) {
        let c = controller
        /// The admin use cases for the request's principal.
        @Sendable func a(_ context: ServerContext) throws -> LocalAdmin {
            guard let p = context.principal else { throw APIError.unauthorized("missing bearer token") }
            return LocalAdmin(c.scoped(to: p.tenant))
        }
        /// The same, for an endpoint only the operator may use: a tenant is refused before its
        /// request is read.
        @Sendable func op(_ context: ServerContext, _ what: String) throws -> LocalAdmin {
            let admin = try a(context)
            if let tenant = context.principal?.tenant {
                throw APIError.forbidden("\(what) is for the operator only: this token acts for tenant '\(tenant)'")
            }
            return admin
        }
        v1.post("networks") { req, x in
            JSONResponse.make(try await a(x).createNetwork(try await Self.decode(req)), status: .created)
        }
        v1.get("networks") { _, x in JSONResponse.make(try await a(x).networks()) }
        v1.get("networks/{name}") { _, x in JSONResponse.make(try await a(x).network(named: try Self.name(x))) }
        v1.delete("networks/{name}") { _, x in JSONResponse.make(try await a(x).deleteNetwork(name: try Self.name(x))) }
        v1.patch("networks/{name}") { req, x in
            JSONResponse.make(try await a(x).updateNetwork(name: try Self.name(x), try await Self.decode(req)))
        }
        v1.post("networks/{name}/members") { req, x in
            let r: AttachRequest = try await Self.decode(req)
            return JSONResponse.make(try await a(x).attach(network: try Self.name(x), node: r.node))
        }
        v1.delete("networks/{name}/members/{node}") { _, x in
            JSONResponse.make(try await a(x).detach(network: try Self.name(x), node: try Self.name(x, "node")))
        }
        v1.get("networks/{name}/graph") { _, x in
            JSONResponse.make(GraphView(dot: try await a(x).graph(network: try Self.name(x))))
        }

        v1.post("nodes") { req, x in
            JSONResponse.make(try await op(x, "adding nodes").addNode(try await Self.decode(req)), status: .created)
        }
        v1.get("nodes") { _, x in JSONResponse.make(try await a(x).nodes()) }
        v1.get("nodes/{name}") { _, x in
            JSONResponse.make(try await op(x, "reading node details").node(named: try Self.name(x)))
        }
        v1.delete("nodes/{name}") { _, x in
            JSONResponse.make(try await op(x, "removing nodes").removeNode(name: try Self.name(x)))
        }
        let pins = tlsFingerprints
        v1.post("nodes/{name}/join-tokens") { req, x in
            let admin = try op(x, "making join tokens")
            var view = try await admin.createJoinToken(node: try Self.name(x), try await Self.decode(req))
            // The token carries the certificates this controller presents, so the agent pins them.
            view.token = JoinToken(secret: view.token, fingerprints: pins).description
            return JSONResponse.make(view, status: .created)
        }
        v1.get("nodes/{name}/join-tokens") { _, x in
            JSONResponse.make(try await op(x, "listing join tokens").joinTokens(node: try Self.name(x)))
        }
        v1.get("join-tokens") { _, x in JSONResponse.make(try await op(x, "listing join tokens").joinTokens(node: nil))
        }
        v1.delete("join-tokens/{id}") { _, x in
            JSONResponse.make(try await op(x, "revoking join tokens").revokeJoinToken(id: try Self.name(x, "id")))
        }
        v1.get("nodes/{name}/plan") { _, x in
            JSONResponse.make(try await op(x, "reading node plans").plan(node: try Self.name(x)))
        }

        v1.post("workloads") { req, x in
            JSONResponse.make(try await a(x).addWorkload(try await Self.decode(req)), status: .created)
        }
        v1.get("workloads") { _, x in JSONResponse.make(try await a(x).workloads()) }
        v1.get("workloads/{name}") { _, x in JSONResponse.make(try await a(x).workload(named: try Self.name(x))) }
        v1.delete("workloads/{name}") { _, x in
            JSONResponse.make(try await a(x).removeWorkload(name: try Self.name(x)))
        }

        v1.post("access-peers") { req, x in
            JSONResponse.make(try await a(x).addAccessPeer(try await Self.decode(req)), status: .created)
        }
        v1.get("access-peers") { _, x in JSONResponse.make(try await a(x).accessPeers()) }
        v1.delete("access-peers/{name}") { _, x in
            JSONResponse.make(try await a(x).removeAccessPeer(name: try Self.name(x)))
        }

        v1.post("gateway-routes") { req, x in
            JSONResponse.make(try await a(x).addGatewayRoute(try await Self.decode(req)), status: .created)
        }
        v1.get("gateway-routes") { _, x in JSONResponse.make(try await a(x).gatewayRoutes()) }
        v1.delete("gateway-routes/{name}") { _, x in
            JSONResponse.make(try await a(x).removeGatewayRoute(name: try Self.name(x)))
        }

        v1.post("apply") { req, x in
            let admin = try op(x, "applying a topology file")
            return JSONResponse.make(try await admin.apply(try await Self.decode(req)))
        }
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
