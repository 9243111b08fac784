import Foundation

/// The admin endpoints (all JSON, bearer token, under `/v1`). See docs/api.yaml.
public enum AdminPaths {
    public static let networks = "/v1/networks"
    public static let joinTokens = "/v1/join-tokens"
    public static let nodes = "/v1/nodes"
    public static let workloads = "/v1/workloads"
    public static let accessPeers = "/v1/access-peers"
    public static let gatewayRoutes = "/v1/gateway-routes"
    public static let apply = "/v1/apply"
    /// Largest request body accepted (bytes); larger ones get 413.
    public static let maxBody = 1 << 20

    /// A name as one path segment (percent-encoded; the server decodes it).
    public static func segment(_ name: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
    }
}
