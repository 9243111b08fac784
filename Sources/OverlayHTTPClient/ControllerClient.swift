import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

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

    /// - Parameter maxConnections: connections kept to the controller at once (one per concurrent
    ///   request; long-polls hold theirs).
    public init(baseURL: String, maxConnections: Int = 8) throws {
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
        config.timeout = .init(connect: .seconds(5))
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
        let ms = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        do {
            let response = try await client.execute(request, timeout: .milliseconds(ms))
            let bytes = try await response.body.collect(upTo: maxResponseBytes)
            var h: [String: String] = [:]
            for (name, value) in response.headers { h[name.lowercased()] = value }
            return Reply(status: Int(response.status.code), headers: h, body: Array(buffer: bytes))
        } catch let e as HTTPClientError {
            throw ControllerClientError.unreachable(baseURL, "\(e)")
        } catch let e as IOError {
            throw ControllerClientError.unreachable(baseURL, e.description)
        } catch let e as ChannelError {
            throw ControllerClientError.unreachable(baseURL, "\(e)")
        }
    }

    /// Closes the connections; call once when done.
    public func shutdown() async throws {
        try await client.shutdown()
    }
}

/// Why a request to the controller got no answer: a base URL that is not one, or a controller
/// that cannot be reached.
public enum ControllerClientError: Error, CustomStringConvertible {
    case badURL(String)
    case unreachable(String, String)

    public var description: String {
        switch self {
        case .badURL(let u): "invalid controller URL '\(u)': http://HOST:PORT or https://HOST:PORT"
        case .unreachable(let u, let why): "cannot reach the controller at \(u): \(why)"
        }
    }
}
