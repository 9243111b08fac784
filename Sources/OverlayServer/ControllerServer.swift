import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import OverlayAPI
import OverlayController
import OverlayCrypto
import OverlayModel
import OverlayProtocol
import OverlayStore
import ServiceLifecycle

/// How many connections `overlayd` holds, and for how long an idle one.
public struct ConnectionLimitConfiguration: Sendable {
    public var perSource: Int
    public var total: Int
    public var idleTimeout: Duration

    /// The idle clock counts from the last byte read, and a long-poll reads nothing while it waits.
    /// A timeout equal to a poll's wait fired just as the answer went out and closed the agent's
    /// connection under it, so every poll paid a new TLS handshake: the default outlasts the
    /// longest wait an agent may ask for, with room for its next request to arrive.
    public static let defaultIdleTimeout: Duration = .seconds(AgentPaths.maxWait + 15)

    public init(perSource: Int = 256, total: Int = 16_384, idleTimeout: Duration = Self.defaultIdleTimeout) {
        self.perSource = perSource
        self.total = total
        self.idleTimeout = idleTimeout
    }
}

/// The controller service: the admin API (bearer token), the agent API (signed requests, plan
/// long-polls), `/metrics` and `/healthz`, over one store.
public final class ControllerServer: Sendable {
    public let controller: Controller
    let key: Ed25519Identity
    let waiters: PlanWaiters
    let plans: SignedPlanCache
    let nonces: NonceStore
    let metrics: ServerMetrics
    let logger: Logger
    let authLimits: AuthLimits
    /// Other replicas' commits, on a shared PostgreSQL database (nil on SQLite).
    let planChanges: PlanChangeListener?
    /// The certificates served now and announced next (empty over plain HTTP): join tokens carry
    /// them and signed plans announce them.
    let tlsFingerprints: [CertificateFingerprint]
    /// Where handlers run, off the cooperative threads: they block on the store.
    let database = DatabaseExecutor.shared

    /// - Parameter authFailures: how many failed authentications a source may make in a row
    ///   (`burst`) and earns back per second before it gets `429`.
    public init(
        store: Store, signingKey: Ed25519Identity, logger: Logger,
        authFailures: (burst: Int, refillPerSecond: Double) = (20, 0.2), tlsFingerprints: [CertificateFingerprint] = []
    ) {
        self.tlsFingerprints = tlsFingerprints
        let waiters = PlanWaiters()
        let metrics = ServerMetrics()
        self.waiters = waiters
        self.metrics = metrics
        controller = Controller(store: store) { change in
            let woken = waiters.wake(change.touchedNodes)
            if woken > 0 { metrics.wakeups.increment(by: Int64(woken)) }
        }
        key = signingKey
        plans = SignedPlanCache()
        nonces = NonceStore(store: store)
        self.logger = logger
        authLimits = AuthLimits(.init(burst: authFailures.burst, refillPerSecond: authFailures.refillPerSecond))
        planChanges = store.listenForPlanChanges(
            onChange: { nodes in
                let woken = nodes.map { waiters.wake($0) } ?? waiters.wakeAll()
                if woken > 0 { metrics.wakeups.increment(by: Int64(woken)) }
            },
            onReconnect: { [logger] in
                let woken = waiters.wakeAll()
                logger.notice(
                    "database connection back: long-polls check their plans again", metadata: ["polls": "\(woken)"])
            })
    }

    deinit {
        planChanges?.stop()
    }

    /// The controller's public key, base64: what agents pin when they join.
    public var publicKeyBase64: String { key.publicKeyBase64 }

    /// Long-polls waiting right now.
    public var longPollsInFlight: Int { waiters.count }

    public func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        let endpoints = EndpointMethods()
        router.add(
            middleware: RequestPipeline(
                executor: database, limits: authLimits, errors: ErrorAnswers(endpoints: endpoints), metrics: metrics))
        let routes = RecordingRouter(base: router, table: endpoints)
        routes.get("/healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        routes.get("/metrics") { [self] _, _ in
            let body = metrics.render(revision: try controller.revision(), polls: waiters.count)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        addAgentRoutes(routes)
        addAdminRoutes(routes.group("v1").add(middleware: AdminAuthMiddleware(controller: controller)))
        return router
    }

    /// The HTTP application on `host:port` (port 0: any free port, reported to `onRunning`).
    /// Connections are bounded: `limits.perSource` open per source address and `limits.total` in
    /// all (beyond them a new connection is closed at once), and one that sends no request for
    /// `limits.idleTimeout` — a request head sent half, or nothing between requests — is closed.
    /// Request heads are at most 16 KiB in 100 fields; bodies at most 1 MiB. With `tls` it speaks
    /// HTTPS only (a plain HTTP request on the port fails the handshake).
    public func application(
        host: String, port: Int, limits: ConnectionLimitConfiguration = .init(), tls: ControllerCertificate? = nil,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let connections = ConnectionLimits(perSource: limits.perSource, total: limits.total, metrics: metrics)
        let http = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionLimitHandler(limits: connections)],
            idleTimeout: TimeAmount(limits.idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: 8 << 10, maxHeaderListSize: 16 << 10, maxHeaderFieldCount: 100))
        let server: HTTPServerBuilder =
            if let tls { try .tls(.http1(configuration: http), tlsConfiguration: tls.serverConfiguration()) } else {
                .http1(configuration: http)
            }
        return Application(
            router: router(), server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "overlayd"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Ends every pending long-poll (answered 204) when graceful shutdown starts, so the HTTP
    /// server can finish its requests at once. Put it after the application in the ServiceGroup:
    /// services stop in reverse order.
    public var longPollCloser: some Service { LongPollCloser(waiters: waiters, logger: logger) }
}

struct LongPollCloser: Service {
    let waiters: PlanWaiters
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down: ending pending long-polls", metadata: ["count": "\(waiters.count)"])
        waiters.close()
    }
}

/// Admin endpoints need `Authorization: Bearer <admin token>`; only its hash is stored. The
/// token's principal (operator or tenant) goes on in the context.
struct AdminAuthMiddleware: RouterMiddleware {
    let controller: Controller

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized(
                "missing bearer token: send 'Authorization: Bearer TOKEN' (create one with 'overlayd token create')")
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix),
            let principal = try controller.adminPrincipal(String(header.dropFirst(prefix.count)))
        else {
            throw APIError.unauthorized("invalid or revoked bearer token")
        }
        var context = context
        context.principal = principal
        do {
            let response = try await next(request, context)
            audit(request, context, principal, status: response.status)
            return response
        } catch {
            audit(request, context, principal, status: ErrorAnswers.classify(error).0)
            throw error
        }
    }

    /// An audit line for every change, refused ones too: which token, for whom, what, and the
    /// outcome.
    private func audit(
        _ request: Request, _ context: ServerContext, _ principal: AdminPrincipal, status: HTTPResponse.Status
    ) {
        guard request.method != .get else { return }
        context.logger.info(
            "admin change",
            metadata: [
                "token": "\(principal.token)", "role": "\(principal.tenant == nil ? "operator" : "tenant")",
                "tenant": "\(principal.tenant ?? "-")", "method": "\(request.method)",
                "path": "\(request.uri.path)", "status": "\(status.code)",
            ])
    }
}
