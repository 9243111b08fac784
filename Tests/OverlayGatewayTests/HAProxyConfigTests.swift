import OverlayGateway
import OverlayModel
import OverlayPlanner
import Testing

@Suite("HAProxy configuration")
struct HAProxyConfigTests {
    let paths = GatewayPaths(directory: "/var/lib/overlay/gateway")

    func backend(_ w: String, _ a: String, _ p: UInt16) -> GatewayBackendPlan {
        GatewayBackendPlan(workload: w, address: IPv6Address(a)!, port: p)
    }

    func plan() -> GatewayPlan {
        GatewayPlan(
            domain: "gw.example.com",
            routes: [
                GatewayRoutePlan(
                    name: "app", match: .name("app"), host: "app.gw.example.com", tlsPassthrough: false, network: "red",
                    namespace: "ovl-aaaa",
                    backends: [backend("web1", "fd00:1:2:1::2", 8080), backend("web2", "fd00:1:2:2::2", 8080)],
                    balance: .leastconn),
                GatewayRoutePlan(
                    name: "blue", match: .fqdn("blue.example.org"), host: "blue.example.org", tlsPassthrough: false,
                    network: "blue", namespace: "ovl-bbbb", backends: [backend("b", "fd00:9:9:1::2", 80)]),
                GatewayRoutePlan(
                    name: "secure", match: .name("secure"), host: "secure.gw.example.com", tlsPassthrough: true,
                    network: "red", namespace: "ovl-aaaa", backends: [backend("tls", "fd00:1:2:1::3", 8443)]),
                GatewayRoutePlan(
                    name: "term", match: .name("term"), host: "term.gw.example.com", tlsPassthrough: false,
                    network: "red", namespace: "ovl-aaaa", backends: [backend("web1", "fd00:1:2:1::2", 8080)],
                    tls: GatewayTLSPlan(certificate: "PEM", sealedKey: "c2VhbGVk")),
                GatewayRoutePlan(
                    name: "db", match: .tcp(5432), host: nil, tlsPassthrough: false, network: "blue",
                    namespace: "ovl-bbbb",
                    backends: [backend("pg", "fd00:9:9:1::5", 5432)]),
                GatewayRoutePlan(
                    name: "dns", match: .udp(5353), host: nil, tlsPassthrough: false, network: "blue",
                    namespace: "ovl-bbbb",
                    backends: [backend("ns", "fd00:9:9:1::6", 53)]),
            ])
    }

    func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    @Test("HTTP by Host, a 404 for anything else")
    func http() {
        let l = lines(HAProxyConfig.render(plan(), paths: paths))
        #expect(l.contains("bind :::80 v4v6"))
        #expect(l.contains("use_backend route-app if { req.hdr(host),field(1,:),lower -m str app.gw.example.com }"))
        #expect(l.contains("use_backend route-blue if { req.hdr(host),field(1,:),lower -m str blue.example.org }"))
        #expect(l.contains("default_backend no-route"))
        #expect(
            l.contains("http-request return status 404 content-type text/plain string \"no route for this name\\n\""))
        // The passthrough and terminated names are not served on port 80.
        #expect(!l.contains { $0.contains("lower -m str secure.gw.example.com") && $0.contains("hdr(host)") })
    }

    @Test("TLS by SNI: passthrough to the workload, termination through a second frontend")
    func tls() {
        let list = paths.certificateList(digest: "0f1e")
        let text = HAProxyConfig.render(plan(), paths: paths, certificateList: list)
        let l = lines(text)
        #expect(l.contains("bind :::443 v4v6"))
        #expect(l.contains("tcp-request inspect-delay 5s"))
        #expect(l.contains("tcp-request content accept if { req.ssl_hello_type 1 }"))
        #expect(l.contains("use_backend route-secure if { req.ssl_sni,lower -m str secure.gw.example.com }"))
        #expect(l.contains("use_backend tls-terminate if { req.ssl_sni,lower -m str term.gw.example.com }"))
        #expect(l.contains("server terminate unix@/var/lib/overlay/gateway/tls.sock send-proxy-v2"))
        #expect(
            l.contains(
                "bind unix@/var/lib/overlay/gateway/tls.sock mode 600 accept-proxy ssl crt-list /var/lib/overlay/gateway/certs/list-0f1e"
            ))
        #expect(l.contains("use_backend route-term if { req.hdr(host),field(1,:),lower -m str term.gw.example.com }"))
        // The passthrough backend stays TCP: the gateway never sees the plaintext.
        let secure = text.components(separatedBy: "backend route-secure\n")[1].split(separator: "\n").prefix(2)
        #expect(secure.contains("    mode tcp"))
        let file = paths.certificate(route: "term", digest: "a1b2")
        #expect(file == "/var/lib/overlay/gateway/certs/term-a1b2.pem")
        #expect(
            HAProxyConfig.certificateList(plan(), files: ["term": file])
                == "/var/lib/overlay/gateway/certs/term-a1b2.pem term.gw.example.com\n")
    }

    @Test("servers connect from their network's namespace, with checks and balancing")
    func servers() {
        let text = HAProxyConfig.render(plan(), paths: paths)
        let l = lines(text)
        #expect(l.contains("server web1 [fd00:1:2:1::2]:8080 namespace ovl-aaaa check inter 1s fall 2 rise 2"))
        #expect(l.contains("server web2 [fd00:1:2:2::2]:8080 namespace ovl-aaaa check inter 1s fall 2 rise 2"))
        #expect(l.contains("server b [fd00:9:9:1::2]:80 namespace ovl-bbbb check inter 1s fall 2 rise 2"))
        let app = text.components(separatedBy: "backend route-app\n")[1].split(separator: "\n").prefix(2)
        #expect(app.contains("    balance leastconn"))
        #expect(text.components(separatedBy: "backend route-blue\n")[1].contains("balance roundrobin"))
        // Every server line names a namespace: none is reached from the host namespace.
        #expect(
            l.filter { $0.hasPrefix("server ") && !$0.hasPrefix("server terminate") }.allSatisfy {
                $0.contains(" namespace ovl-")
            })
    }

    @Test("TCP mappings get a frontend; UDP is not HAProxy's")
    func ports() {
        let l = lines(HAProxyConfig.render(plan(), paths: paths))
        #expect(l.contains("frontend tcp-5432"))
        #expect(l.contains("bind :::5432 v4v6"))
        #expect(l.contains("default_backend route-db"))
        #expect(!l.contains { $0.contains("5353") || $0.contains("route-dns") })
    }

    @Test("master-worker with fd passing; deterministic; nothing but globals for no routes")
    func global() {
        let p = plan()
        let text = HAProxyConfig.render(p, paths: paths)
        #expect(text == HAProxyConfig.render(p, paths: paths))
        #expect(
            lines(text).contains(
                "stats socket /var/lib/overlay/gateway/admin.sock mode 600 level admin expose-fd listeners"))
        #expect(lines(text).contains("master-worker"))
        let empty = HAProxyConfig.render(GatewayPlan(domain: "x.example", routes: []), paths: paths)
        #expect(!empty.contains("frontend"))
        let onlyHTTP = HAProxyConfig.render(GatewayPlan(domain: "x.example", routes: [p.routes[0]]), paths: paths)
        #expect(!onlyHTTP.contains(":::443") && !onlyHTTP.contains("tls-terminate"))
    }
}
