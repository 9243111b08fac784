import Foundation
import HTTPTypes
import Hummingbird
import OverlayAPI
import OverlayController
import OverlayCrypto
import OverlayModel
import OverlayProtocol
import OverlayStore

/// The agent endpoints: join (token + proof of possession), plan long-poll, status.
extension ControllerServer {
    func addAgentRoutes(_ router: some RouterMethods<ServerContext>) {
        router.on(.init(AgentPaths.join), method: .post, responder: AgentEndpoint(server: self, kind: .join))
        router.on(.init(AgentPaths.plan), method: .get, responder: AgentEndpoint(server: self, kind: .plan))
        router.on(.init(AgentPaths.status), method: .post, responder: AgentEndpoint(server: self, kind: .status))
    }

    /// Checks the signature headers of `request` against `publicKey` and uses the nonce up.
    func verifySignature(_ request: Request, body: [UInt8], publicKey: [UInt8], nonceScope: String) throws
        -> AgentSignature.Claim
    {
        let claim = try Self.claim(request)
        do {
            try claim.verify(
                method: request.method.rawValue, pathAndQuery: request.uri.string, body: body, publicKey: publicKey)
            try nonces.record(node: nonceScope, nonce: claim.nonce)
        } catch let f as AgentSignatureError {
            throw APIError.unauthorized("agent authentication failed: \(f)")
        }
        return claim
    }

    static func claim(_ request: Request) throws -> AgentSignature.Claim {
        do {
            return try AgentSignature.Claim { name in HTTPField.Name(name).flatMap { request.headers[$0] } }
        } catch let f as AgentSignatureError {
            throw APIError.unauthorized("agent authentication failed: \(f)")
        }
    }

    /// The node a signed request comes from, once its signature, time and nonce check out. An
    /// unknown node, a node that has not joined and a wrong signature get one and the same
    /// answer, so unauthenticated requests cannot learn which node names exist; the log has the
    /// reason.
    func authenticate(_ request: Request, body: [UInt8], _ context: ServerContext) throws -> AgentSignature.Claim {
        let claim = try Self.claim(request)
        do { try claim.checkTime() } catch let f as AgentSignatureError {
            throw APIError.unauthorized("agent authentication failed: \(f)")
        }
        let reason: String
        switch try controller.agentKey(node: claim.node) {
        case .key(let key):
            _ = try verifySignature(request, body: body, publicKey: key, nonceScope: claim.node)
            metrics.seen(node: claim.node)
            return claim
        case .unknownNode: reason = "unknown node"
        case .notJoined: reason = "node has not joined yet"
        }
        context.logger.notice(
            "agent authentication failed", metadata: ["node": "\(Quote.bounded(claim.node))", "reason": "\(reason)"])
        throw APIError.unauthorized("agent authentication failed: \(AgentSignatureError.badSignature)")
    }

    func join(_ request: Request, _ context: ServerContext) async throws -> Response {
        let body = try await Self.body(request)
        let r = try StrictJSON.decode(JoinRequest.self, from: body)
        let identity = try Node.parseIdentity(r.identity)
        // Proof of possession: the request is signed with the key being registered.
        _ = try verifySignature(request, body: body, publicKey: identity, nonceScope: "join:" + r.identity)
        let node = try controller.join(token: r.token, identity: identity)
        metrics.joins.increment()
        metrics.seen(node: node)
        context.logger.info("node joined", metadata: ["node": "\(node)", "identity": "\(r.identity)"])
        return JSONResponse.make(JoinResponse(node: node, controllerKey: key.publicKeyBase64))
    }

    func plan(_ request: Request, _ context: ServerContext) async throws -> Response {
        let node = try authenticate(request, body: try await Self.body(request), context).node
        let q = request.uri.queryParameters
        let after = try Self.integer(q.get("after"), name: "after", range: 0...Int64.max, default: 0)
        let wait = try Self.integer(
            q.get("wait"), name: "wait", range: 0...Int64(AgentPaths.maxWait), default: Int64(AgentPaths.defaultWait))
        let deadline = ContinuousClock.now + .seconds(wait)
        // An agent that names the certificates it pins and lacks an announced one gets the
        // current plan at once: the announcement travels with it.
        let lacksAnnounced =
            request.headers[HTTPField.Name(AgentPaths.pinsHeader)!].map { header in
                let pinned = Set(
                    header.split(separator: ",").compactMap { try? CertificateFingerprint(parsing: String($0)) })
                return !tlsFingerprints.allSatisfy(pinned.contains)
            } ?? false
        while true {
            let generation = waiters.generation(node)
            let known: Int64??
            do { known = try controller.planRevision(node: node) } catch is StoreUnavailableError {
                // The shared database is out of reach: the poll is held (answered 204 at its
                // deadline) and checks again when woken, or within a second.
                known = .none
            }
            guard case .some(let found) = known else {
                let left = deadline - ContinuousClock.now
                if left <= .zero || waiters.isClosed { return Response(status: .noContent) }
                _ = await waiters.wait(node: node, since: generation, timeout: min(left, .seconds(1)))
                continue
            }
            guard let revision = found else {
                throw APIError.forbidden("agent authentication failed: unknown node '\(node)'")
            }
            if revision > after || lacksAnnounced {
                let body = try plans.body(
                    node: node, atLeast: revision, controller: controller, key: key, tls: tlsFingerprints)
                metrics.plansDelivered.increment()
                return JSONResponse.bytesResponse(body)
            }
            let left = deadline - ContinuousClock.now
            if left <= .zero || waiters.isClosed { return Response(status: .noContent) }
            _ = await waiters.wait(node: node, since: generation, timeout: left)
        }
    }

    func status(_ request: Request, _ context: ServerContext) async throws -> Response {
        let body = try await Self.body(request)
        let claim = try authenticate(request, body: body, context)
        let node = claim.node
        let report = try StrictJSON.decode(AgentStatus.self, from: body)
        try report.validate()
        do { try controller.recordStatus(node: node, report, signedAt: claim.time, nonce: claim.nonce) } catch let e
            as StaleReport
        {
            throw APIError.unauthorized("agent authentication failed: \(e)")
        }
        metrics.reported(
            node: node, errors: report.errors.count,
            failovers: report.networks.reduce(0) { $0 + ($1.relays?.failovers ?? 0) })
        if !report.errors.isEmpty {
            context.logger.warning(
                "agent reports apply errors", metadata: ["node": "\(node)", "errors": "\(report.errors)"])
        }
        return Response(status: .noContent)
    }

    static func body(_ request: Request) async throws -> [UInt8] {
        Array(buffer: try await request.body.collect(upTo: AdminPaths.maxBody))
    }

    static func integer(_ text: String?, name: String, range: ClosedRange<Int64>, default value: Int64) throws -> Int64
    {
        guard let text else { return value }
        guard let n = Int64(text), range.contains(n) else {
            throw ValidationError(name, text, allowed: "an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }
}

/// An agent route. A responder of its own rather than a closure: a closure route puts three async
/// frames between the router and the handler (the closure, its thunk and the wrapper that makes
/// a response of its result), and a connection keeps the memory of its deepest frames while it
/// stays open (see `RequestPipeline`); agents keep theirs open, waiting in long-polls.
struct AgentEndpoint: HTTPResponder {
    typealias Context = ServerContext
    enum Kind { case join, plan, status }
    let server: ControllerServer
    let kind: Kind

    func respond(to request: Request, context: ServerContext) async throws -> Response {
        switch kind {
        case .join: try await server.join(request, context)
        case .plan: try await server.plan(request, context)
        case .status: try await server.status(request, context)
        }
    }
}
