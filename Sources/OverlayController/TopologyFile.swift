import Foundation
import OverlayModel
import Yams

/// A declarative description of networks, nodes, workloads, access peers and gateway routes
/// (YAML; see examples/). Unknown keys are refused so a typo never goes unnoticed.
public struct TopologyFile: Codable, Sendable, Equatable {
    public struct NetworkEntry: Codable, Sendable, Equatable {
        public var name: String
        public var prefix: String?
        public var mtu: Int?
        /// An IPv4 prefix; the least used /16 of 100.64.0.0/10 when absent, none with `noIPv4`.
        public var ipv4: String?
        public var noIPv4: Bool?
        /// True when absent.
        public var egress: Bool?
    }

    public struct NodeEntry: Codable, Sendable, Equatable {
        public var name: String
        public var identity: String?
        public var publicAddresses: [String]?
        public var listenPorts: String?
        public var region: String?
        public var hub: Bool?
        public var gateway: Bool?
        public var domain: String?
    }

    public struct WorkloadEntry: Codable, Sendable, Equatable {
        public var name: String
        public var network: String
        public var node: String
        public var netns: String?
        public var expose: [String]?
    }

    public struct AccessEntry: Codable, Sendable, Equatable {
        public var name: String
        public var network: String
        public var publicKey: String
        public var hub: String?
    }

    public struct GatewayEntry: Codable, Sendable, Equatable {
        public var name: String
        public var node: String
        public var host: String?
        public var fqdn: String?
        public var tcp: Int?
        public var udp: Int?
        public var backends: [String]
        public var tlsPassthrough: Bool?
    }

    public var networks: [NetworkEntry]?
    public var nodes: [NodeEntry]?
    public var workloads: [WorkloadEntry]?
    public var access: [AccessEntry]?
    public var gateways: [GatewayEntry]?

    public static func parse(_ text: String) throws -> TopologyFile {
        do {
            try checkKeys(text)
            return try YAMLDecoder().decode(TopologyFile.self, from: text)
        } catch let e as ValidationError {
            throw e
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw ValidationError("topology file", path(ctx.codingPath + [key]), allowed: "this key is required")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            throw ValidationError("topology file", path(ctx.codingPath), allowed: ctx.debugDescription)
        } catch let DecodingError.dataCorrupted(ctx) {
            throw ValidationError("topology file", path(ctx.codingPath), allowed: ctx.debugDescription)
        } catch {
            throw ValidationError("topology file", "\(error)", allowed: "valid YAML")
        }
    }

    /// `nodes[1].identity`, as the unknown-key check writes paths.
    private static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for k in keys {
            if let i = k.intValue {
                out += "[\(i)]"
            } else {
                out += (out.isEmpty ? "" : ".") + k.stringValue
            }
        }
        return out
    }

    private static let allowedKeys: [String: Set<String>] = [
        "": ["networks", "nodes", "workloads", "access", "gateways"],
        "networks": ["name", "prefix", "mtu", "ipv4", "noIPv4", "egress"],
        "nodes": ["name", "identity", "publicAddresses", "listenPorts", "region", "hub", "gateway", "domain"],
        "workloads": ["name", "network", "node", "netns", "expose"],
        "access": ["name", "network", "publicKey", "hub"],
        "gateways": ["name", "node", "host", "fqdn", "tcp", "udp", "backends", "tlsPassthrough"],
    ]

    /// Codable ignores unknown keys; a topology file must not.
    private static func checkKeys(_ text: String) throws {
        guard let root = try Yams.compose(yaml: text) else { return }
        guard let top = root.mapping else { throw ValidationError("topology file", "top level", allowed: "a mapping") }
        for (k, v) in top {
            let key = k.string ?? ""
            guard allowedKeys[""]!.contains(key) else {
                throw ValidationError(
                    "topology file key", key, allowed: allowedKeys[""]!.sorted().joined(separator: ", "))
            }
            for (i, item) in (v.sequence ?? []).enumerated() {
                for (ik, _) in item.mapping ?? [:] where !allowedKeys[key]!.contains(ik.string ?? "") {
                    throw ValidationError(
                        "topology file key", "\(key)[\(i)].\(ik.string ?? "")",
                        allowed: allowedKeys[key]!.sorted().joined(separator: ", "))
                }
            }
        }
    }
}
