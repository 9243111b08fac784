import Foundation
import OverlayModel

/// The JSON of a gateway route request: the fields by name, absent ones nil (or false), the TLS
/// key as its PEM text. The key is a secret, so it is only ever decoded into a `SecretKey`.
extension Controller.GatewaySpec: Codable {
    enum CodingKeys: String, CodingKey {
        case name, node, label, fqdn, tcp, udp, backends, tlsPassthrough, balance, certificate, certificateFile, key,
            keyFile
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), node: try c.decode(String.self, forKey: .node),
            label: try c.decodeIfPresent(String.self, forKey: .label),
            fqdn: try c.decodeIfPresent(String.self, forKey: .fqdn),
            tcp: try c.decodeIfPresent(String.self, forKey: .tcp),
            udp: try c.decodeIfPresent(String.self, forKey: .udp),
            backends: try c.decode([String].self, forKey: .backends),
            tlsPassthrough: try c.decodeIfPresent(Bool.self, forKey: .tlsPassthrough) ?? false,
            balance: try c.decodeIfPresent(String.self, forKey: .balance),
            certificate: try c.decodeIfPresent(String.self, forKey: .certificate),
            key: try c.decodeIfPresent(String.self, forKey: .key).map { SecretKey(copying: Array($0.utf8)) })
        certificateFile = try c.decodeIfPresent(String.self, forKey: .certificateFile)
        keyFile = try c.decodeIfPresent(String.self, forKey: .keyFile)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(node, forKey: .node)
        try c.encodeIfPresent(label, forKey: .label)
        try c.encodeIfPresent(fqdn, forKey: .fqdn)
        try c.encodeIfPresent(tcp, forKey: .tcp)
        try c.encodeIfPresent(udp, forKey: .udp)
        try c.encode(backends, forKey: .backends)
        try c.encode(tlsPassthrough, forKey: .tlsPassthrough)
        try c.encodeIfPresent(balance, forKey: .balance)
        try c.encodeIfPresent(certificate, forKey: .certificate)
        try c.encodeIfPresent(certificateFile, forKey: .certificateFile)
        try c.encodeIfPresent(key.map { String(decoding: $0.withBytes { Array($0) }, as: UTF8.self) }, forKey: .key)
        try c.encodeIfPresent(keyFile, forKey: .keyFile)
    }
}
