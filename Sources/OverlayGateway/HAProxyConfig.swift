import OverlayModel
import OverlayPlanner

/// Where the gateway's files live (all under one directory of the agent's state directory).
public struct GatewayPaths: Sendable, Equatable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    /// The configuration HAProxy runs with: always the last one that passed `haproxy -c`.
    public var config: String { directory + "/haproxy.cfg" }
    /// A candidate configuration, checked before it replaces `config`.
    public var candidate: String { directory + "/haproxy.cfg.new" }
    public var pidFile: String { directory + "/haproxy.pid" }
    /// The master CLI (`-S`): `show proc`, `reload`.
    public var masterSocket: String { directory + "/master.sock" }
    /// The worker's runtime API; `expose-fd listeners` lets a reloaded worker take over the
    /// listening sockets from the old one, so no connection attempt is refused during a reload.
    public var adminSocket: String { directory + "/admin.sock" }
    /// Where TLS-terminated connections go after SNI routing: a second, HTTP frontend.
    public var tlsSocket: String { directory + "/tls.sock" }
    /// Certificate files are named by their content (`digest`: a hash of what the file holds), so
    /// writing a new one never changes a file the running configuration loads: a change HAProxy
    /// rejects leaves the last good configuration with exactly the files it had.
    public var certificates: String { directory + "/certs" }
    public func certificateList(digest: String) -> String { "\(certificates)/list-\(digest)" }
    public var log: String { directory + "/haproxy.log" }
    public func certificate(route: String, digest: String) -> String { "\(certificates)/\(route)-\(digest).pem" }
}

/// Renders HAProxy's configuration from a gateway plan: pure, deterministic (same plan, same text).
///
/// - Port 80: HTTP routed by `Host`; an unknown name gets a 404 from HAProxy itself.
/// - Port 443: TLS routed by SNI without decrypting (`req.ssl_sni`). Passthrough routes go straight
///   to their backends; routes with a certificate go to a second frontend on a unix socket that
///   terminates TLS (a crt-list picks the certificate by SNI) and routes by `Host` like port 80.
///   An unknown SNI is refused (the connection is closed).
/// - Each `--tcp PORT`: a TCP frontend on that port. (`--udp` is the agent's UDP relay.)
/// - Every server line names the network namespace of its route's network: HAProxy listens in
///   the host namespace but opens each backend connection inside `ovl-<id>`, so it reaches the
///   overlay of that route and nothing else.
public enum HAProxyConfig {
    /// Health checks every second, a server is down after two failures and up after two
    /// successes; a refused connection is retried once on another server.
    public static let checkParameters = "check inter 1s fall 2 rise 2"

    /// HAProxy threads. One by default: on a small node the proxy shares the CPUs with
    /// wireguard-go, which carries every proxied byte, and a second thread costs more in
    /// contention than it serves (measured in docs/performance.md).
    /// `certificateList` is the crt-list file of the terminated routes (see `certificateList(_:files:)`).
    public static func render(_ plan: GatewayPlan, paths: GatewayPaths, certificateList: String = "", threads: Int = 1)
        -> String
    {
        let routes = plan.routes.filter { if case .udp = $0.match { false } else { true } }
        var out: [String] = []
        out += [
            "# Written by overlay-agent from the node's plan; edits are overwritten.",
            "global",
            "    master-worker",
            "    nbthread \(threads)",
            "    stats socket \(paths.adminSocket) mode 600 level admin expose-fd listeners",
            "    # Old workers keep serving established connections after a reload, for at most this long.",
            "    hard-stop-after 1h",
            "",
            "defaults",
            "    timeout connect 3s",
            "    timeout client 60s",
            "    timeout server 60s",
            "    timeout tunnel 1h",
            "    timeout http-request 10s",
            "    timeout http-keep-alive 60s",
            "    timeout check 2s",
            "    retries 1",
            "    option redispatch",
            "",
        ]

        let http = routes.filter { $0.host != nil && !$0.tlsPassthrough && $0.tls == nil }
        let passthrough = routes.filter { $0.host != nil && $0.tlsPassthrough }
        let terminated = routes.filter { $0.host != nil && $0.tls != nil }

        if !http.isEmpty {
            out += ["frontend http", "    mode http", "    bind :::80 v4v6", "    option forwardfor"]
            out += hostRules(http)
            out += ["    default_backend no-route", ""]
        }
        if !passthrough.isEmpty || !terminated.isEmpty {
            out += [
                "frontend tls", "    mode tcp", "    bind :::443 v4v6",
                "    tcp-request inspect-delay 5s",
                "    tcp-request content accept if { req.ssl_hello_type 1 }",
            ]
            for r in passthrough {
                out.append("    use_backend \(backendName(r)) if { req.ssl_sni,lower -m str \(r.host!) }")
            }
            if !terminated.isEmpty {
                let names = terminated.map { $0.host! }.joined(separator: " ")
                out.append("    use_backend tls-terminate if { req.ssl_sni,lower -m str \(names) }")
            }
            out += ["    # Anything else (no SNI, an unknown name) is refused: no default backend.", ""]
        }
        if !terminated.isEmpty {
            out += [
                "backend tls-terminate", "    mode tcp",
                "    server terminate unix@\(paths.tlsSocket) send-proxy-v2", "",
                "frontend https", "    mode http",
                "    bind unix@\(paths.tlsSocket) mode 600 accept-proxy ssl crt-list \(certificateList)",
                "    option forwardfor",
                "    http-request set-header X-Forwarded-Proto https",
            ]
            out += hostRules(terminated)
            out += ["    default_backend no-route", ""]
        }
        if !http.isEmpty || !terminated.isEmpty {
            out += [
                "backend no-route", "    mode http",
                "    http-request return status 404 content-type text/plain string \"no route for this name\\n\"", "",
            ]
        }
        for r in routes {
            if case .tcp(let port) = r.match {
                out += [
                    "frontend tcp-\(port)", "    mode tcp", "    bind :::\(port) v4v6",
                    "    default_backend \(backendName(r))", "",
                ]
            }
        }
        for r in routes {
            let mode = r.host != nil && !r.tlsPassthrough ? "http" : "tcp"
            out += ["backend \(backendName(r))", "    mode \(mode)", "    balance \(r.balance.rawValue)"]
            for b in r.backends {
                out.append(
                    "    server \(b.workload) [\(b.address)]:\(b.port) namespace \(r.namespace) \(checkParameters)")
            }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// The crt-list: one line per terminated route, its certificate file (`files`: route name ->
    /// path) and the SNI it answers.
    public static func certificateList(_ plan: GatewayPlan, files: [String: String]) -> String {
        plan.routes.compactMap { r in
            guard r.tls != nil, let host = r.host, let file = files[r.name] else { return nil }
            return "\(file) \(host)\n"
        }.joined()
    }

    static func backendName(_ r: GatewayRoutePlan) -> String { "route-\(r.name)" }

    /// `Host` without a port, lowercased, compared exactly.
    static func hostRules(_ routes: [GatewayRoutePlan]) -> [String] {
        routes.map { "    use_backend \(backendName($0)) if { req.hdr(host),field(1,:),lower -m str \($0.host!) }" }
    }
}
