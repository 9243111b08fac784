import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A small HTTP client for talking to `overlayd`: one base URL, raw bytes in and out, clear
/// errors when the controller cannot be reached. Used by `overlayctl --controller` and the agent.
public final class ControllerClient: Sendable {
    /// `http://host:port` (or `https://`), without a trailing slash.
    public let baseURL: String
    private let client: HTTPClient

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
    public init(
        baseURL: String, maxConnections: Int = 8, connectTimeout: Duration = .seconds(5), retryConnecting: Bool = true
    ) throws {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
            parsed.host != nil, parsed.path.isEmpty, parsed.query == nil
        else { throw ControllerClientError.badURL(baseURL) }
        self.baseURL = url
        var config = HTTPClient.Configuration()
        // Below overlayd's 30 s idle timeout: the client drops an idle connection before the
        // server does, so a request never goes out on one the server is closing.
        config.connectionPool = .init(
            idleTimeout: .seconds(20), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        config.connectionPool.retryConnectionEstablishment = retryConnecting
        config.timeout = .init(connect: .milliseconds(Self.milliseconds(connectTimeout)))
        config.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
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
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Self.milliseconds(timeout)))
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
        } catch let e as ChannelError {
            if case .connectTimeout = e { throw ControllerClientError.notConnected(baseURL, "\(e)") }
            throw ControllerClientError.unreachable(baseURL, "\(e)")
        }
    }

    /// Errors of `connect` itself: the request never left.
    static let connectErrnos: Set<Int32> = [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL]

    static func milliseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    /// Closes the connections; call once when done.
    public func shutdown() async throws {
        try await client.shutdown()
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

    public var description: String {
        switch self {
        case .badURL(let u): "invalid controller URL '\(u)': http://HOST:PORT or https://HOST:PORT"
        case .notConnected(let u, let why): "cannot connect to the controller at \(u): \(why)"
        case .unreachable(let u, let why): "cannot reach the controller at \(u): \(why)"
        }
    }
}
