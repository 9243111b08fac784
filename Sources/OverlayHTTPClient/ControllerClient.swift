import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import OverlayModel
import Synchronization

/// Which certificate an `https://` controller must present.
public enum ControllerTrust: Sendable, Equatable {
    /// One that chains to the system's certificate authorities and names the host.
    case system
    /// One that chains to the certificates in this PEM file and names the host.
    case authority(path: String)
    /// One whose SHA-256 fingerprint is in the set (the controller's self-signed certificate,
    /// pinned from a join token or `--fingerprint`); it may grow, e.g. when a rotation is announced.
    case pinned([CertificateFingerprint])
}

/// A small HTTP client for talking to `overlayd`: one base URL, raw bytes in and out, clear
/// errors when the controller cannot be reached. Used by `overlayctl --controller` and the agent.
public final class ControllerClient: Sendable {
    /// `http://host:port` (or `https://`), without a trailing slash.
    public let baseURL: String
    private let host: String
    private let port: Int
    private let pinning: Bool
    private let configuration: HTTPClient.Configuration
    private let state: Mutex<State>

    private struct State {
        var client: HTTPClient?
        /// The certificate `client` trusts (pinned mode).
        var trusted: CertificateFingerprint?
        var pins: [CertificateFingerprint]
        var closed = false
    }

    public struct Reply: Sendable {
        public var status: Int
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: [UInt8]

        public init(status: Int, headers: [String: String], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }
    }

    /// - Parameters:
    ///   - maxConnections: connections kept to the controller at once (one per concurrent
    ///     request; long-polls hold theirs).
    ///   - connectTimeout: how long a connection attempt may take.
    ///   - retryConnecting: keep retrying a refused connection until the request's deadline (one
    ///     controller); false fails the request at the first refusal, so that a caller that knows
    ///     other replicas moves on at once.
    ///   - trust: which certificate an `https://` controller must present.
    public init(
        baseURL: String, maxConnections: Int = 8, connectTimeout: Duration = .seconds(5), retryConnecting: Bool = true,
        trust: ControllerTrust = .system
    ) throws {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
            let host = parsed.host, parsed.path.isEmpty, parsed.query == nil
        else { throw ControllerClientError.badURL(baseURL) }
        self.baseURL = url
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = parsed.port ?? (scheme == "https" ? 443 : 80)
        var config = HTTPClient.Configuration()
        // Below overlayd's 30 s idle timeout: the client drops an idle connection before the
        // server does, so a request never goes out on one the server is closing.
        config.connectionPool = .init(
            idleTimeout: .seconds(20), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        config.connectionPool.retryConnectionEstablishment = retryConnecting
        config.timeout = .init(connect: .milliseconds(connectTimeout.wholeMilliseconds))
        config.redirectConfiguration = .disallow
        var pins: [CertificateFingerprint] = []
        pinning = scheme == "https" && { if case .pinned = trust { true } else { false } }()
        switch trust {
        case .system: break
        case .authority(let path):
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(path)
            config.tlsConfiguration = tls
        case .pinned(let p): pins = p
        }
        configuration = config
        // Pinned: the client is made once the presented certificate checked out (`currentClient`).
        state = Mutex(
            State(
                client: pinning
                    ? nil : HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config),
                pins: pins))
    }

    /// Adds fingerprints to the pinned set (an announced next certificate); no effect unless pinned.
    public func pin(_ fingerprints: [CertificateFingerprint]) {
        guard pinning else { return }
        state.withLock { s in
            for f in fingerprints where !s.pins.contains(f) { s.pins.append(f) }
        }
    }

    /// The fingerprints pinned now.
    public var pins: [CertificateFingerprint] { pinning ? state.withLock { $0.pins } : [] }

    /// The HTTP client to send with. Pinned: the first call fetches the certificate the
    /// controller presents, refuses it unless its fingerprint is pinned, and makes a client that
    /// trusts exactly that certificate.
    private func currentClient() async throws -> HTTPClient {
        if let c = state.withLock({ $0.client }) { return c }
        return try await repin()
    }

    /// Fetches the presented certificate and, when it is pinned and not the one trusted now (the
    /// controller switched to an announced certificate, or no client exists yet), makes a client
    /// that trusts exactly it. Returns the client to use.
    private func repin() async throws -> HTTPClient {
        let leaf = try await Self.presentedCertificate(host: host, port: port, url: baseURL)
        let presented = CertificateFingerprint(bytes: Array(SHA256.hash(data: try leaf.toDERBytes())))
        let (pins, current) = state.withLock { s in (s.pins, s.trusted == presented ? s.client : nil) }
        guard pins.contains(presented) else {
            throw ControllerClientError.fingerprintMismatch(baseURL, expected: pins, presented: presented)
        }
        if let current { return current }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates([leaf])
        // The pin names the certificate; the address it is reached at may change.
        tls.certificateVerification = .noHostnameVerification
        var config = configuration
        config.tlsConfiguration = tls
        let fresh = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
        let (use, retire) = state.withLock { s -> (HTTPClient?, HTTPClient?) in
            if s.closed { return (nil, fresh) }
            if let c = s.client, s.trusted == presented { return (c, fresh) }
            let old = s.client
            s.client = fresh
            s.trusted = presented
            return (fresh, old)
        }
        if let retire { Task { try? await retire.shutdown() } }
        guard let use else { throw ControllerClientError.unreachable(baseURL, "the client was shut down") }
        return use
    }

    /// The leaf certificate the server at `host:port` presents. The handshake is ended as soon as
    /// it is seen: this connection carries no request.
    static func presentedCertificate(host: String, port: Int, url: String) async throws -> NIOSSLCertificate {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)
        let loop = HTTPClient.defaultEventLoopGroup.next()
        let seen = loop.makePromise(of: NIOSSLCertificate.self)
        // SNI takes a name, never an address.
        let sni = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
        let bootstrap = ClientBootstrap(group: loop).connectTimeout(.seconds(5)).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let handler = try NIOSSLClientHandler(
                    context: context, serverHostname: sni,
                    customVerificationCallback: { chain, verdict in
                        if let leaf = chain.first { seen.succeed(leaf) }
                        verdict.succeed(NIOSSLVerificationResult.failed)
                    })
                try channel.pipeline.syncOperations.addHandler(handler)
            }
        }
        let channel: Channel
        // This connection carries no request, so whatever goes wrong here, nothing was sent:
        // another replica may take the request.
        do { channel = try await bootstrap.connect(host: host, port: port).get() } catch {
            seen.fail(error)
            throw ControllerClientError.notConnected(url, "\(error)")
        }
        channel.closeFuture.whenComplete { _ in seen.fail(ControllerClientError.noCertificate(url)) }
        // A peer that never answers the handshake must not hold the caller.
        let timer = loop.scheduleTask(in: .seconds(10)) {
            seen.fail(ControllerClientError.notConnected(url, "no TLS handshake within 10 s"))
        }
        seen.futureResult.whenComplete { _ in timer.cancel() }
        defer { channel.close(promise: nil) }
        return try await seen.futureResult.get()
    }

    /// Sends one request. `pathAndQuery` starts with `/`. Any HTTP status is a reply; only
    /// transport failures (refused, timed out, reset) throw `ControllerClientError.unreachable`.
    public func send(
        method: String, pathAndQuery: String, headers: [String: String] = [:], body: [UInt8]? = nil,
        timeout: Duration = .seconds(30), maxResponseBytes: Int = 16 << 20
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: baseURL + pathAndQuery)
        request.method = HTTPMethod(rawValue: method.uppercased())
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            if headers.keys.first(where: { $0.lowercased() == "content-type" }) == nil {
                request.headers.add(name: "Content-Type", value: "application/json")
            }
        }
        let ms = timeout.wholeMilliseconds
        let client = try await currentClient()
        do {
            return try await execute(
                request, on: client, timeout: .milliseconds(ms), maxResponseBytes: maxResponseBytes)
        } catch let e as ControllerClientError where pinning {
            // The controller may have switched to an announced certificate: check what it
            // presents now, and retry once if that is pinned.
            let fresh: HTTPClient
            do { fresh = try await repin() } catch let m as ControllerClientError {
                if case .fingerprintMismatch = m { throw m }
                throw e
            }
            guard fresh !== client else { throw e }
            return try await execute(request, on: fresh, timeout: .milliseconds(ms), maxResponseBytes: maxResponseBytes)
        }
    }

    private func execute(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: TimeAmount, maxResponseBytes: Int
    ) async throws -> Reply {
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: maxResponseBytes)
            var h: [String: String] = [:]
            for (name, value) in response.headers { h[name.lowercased()] = value }
            return Reply(status: Int(response.status.code), headers: h, body: Array(buffer: bytes))
        } catch let e as HTTPClientError {
            if e == .connectTimeout { throw ControllerClientError.notConnected(baseURL, "\(e)") }
            throw ControllerClientError.unreachable(baseURL, "\(e)")
        } catch let e as NIOConnectionError {
            throw ControllerClientError.notConnected(baseURL, "\(e)")
        } catch let e as IOError {
            if Self.connectErrnos.contains(e.errnoCode) {
                throw ControllerClientError.notConnected(baseURL, e.description)
            }
            throw ControllerClientError.unreachable(baseURL, e.description)
        } catch let e as NIOSSLError {
            throw ControllerClientError.unreachable(baseURL, "TLS: \(e)")
        } catch let e as BoringSSLError {
            throw ControllerClientError.unreachable(baseURL, "TLS: \(e)")
        } catch let e as ChannelError {
            if case .connectTimeout = e { throw ControllerClientError.notConnected(baseURL, "\(e)") }
            throw ControllerClientError.unreachable(baseURL, "\(e)")
        }
    }

    /// Errors of `connect` itself: the request never left.
    static let connectErrnos: Set<Int32> = [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL]

    /// Closes the connections; call once when done.
    public func shutdown() async throws {
        let client = state.withLock { s in
            s.closed = true
            return s.client
        }
        try await client?.shutdown()
    }
}

/// Why a request to the controller got no answer: a base URL that is not one, a controller that
/// could not be connected to, or one whose answer did not come.
public enum ControllerClientError: Error, CustomStringConvertible {
    case badURL(String)
    /// No connection could be made (refused, no route, connect timeout): the request never left,
    /// so another replica may take it.
    case notConnected(String, String)
    /// The connection broke or the answer was late: the request may have been carried out.
    case unreachable(String, String)
    case fingerprintMismatch(String, expected: [CertificateFingerprint], presented: CertificateFingerprint)
    case noCertificate(String)

    public var description: String {
        switch self {
        case .badURL(let u): "invalid controller URL '\(u)': http://HOST:PORT or https://HOST:PORT"
        case .notConnected(let u, let why): "cannot connect to the controller at \(u): \(why)"
        case .unreachable(let u, let why): "cannot reach the controller at \(u): \(why)"
        case .fingerprintMismatch(let u, let expected, let presented):
            "the controller at \(u) presents a certificate with fingerprint \(presented), expected "
                + (expected.count == 1
                    ? "\(expected[0])" : "one of " + expected.map(\.description).joined(separator: ", "))
                + "; refused"
        case .noCertificate(let u):
            "the controller at \(u) closed the connection before presenting a TLS certificate (is it serving plain HTTP?)"
        }
    }
}
