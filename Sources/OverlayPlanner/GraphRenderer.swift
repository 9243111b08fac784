import OverlayModel

/// The topology of one network as Graphviz DOT: hubs as double circles, hidden members dashed,
/// access peers as notes; hidden members' primary relay bold, standby dashed.
public enum GraphRenderer {
    public static func dot(_ planned: PlannedNetwork) -> String {
        let t = planned.topology
        var out = "graph \"\(planned.network.name)\" {\n"
        let v4 = planned.network.ipv4Prefix.map { " \($0)" } ?? ""
        out += "  label=\"\(planned.network.name) \(planned.network.prefix)\(v4)\";\n  node [fontname=\"Helvetica\"];\n"
        for m in t.members {
            var attrs = ["label=\"\(m.name)\\n\(m.subnet)\(m.subnet4.map { "\\n\($0)" } ?? "")\""]
            if m.isHub { attrs.append("shape=doublecircle") }
            if m.isHidden { attrs.append("style=dashed") }
            if m.isGateway { attrs.append("color=blue") }
            out += "  \"\(m.name)\" [\(attrs.joined(separator: ", "))];\n"
        }
        let open = t.members.filter { !$0.isHidden }
        for (k, a) in open.enumerated() {
            for b in open[(k + 1)...] { out += "  \"\(a.name)\" -- \"\(b.name)\";\n" }
        }
        for (x, r) in t.relays.sorted(by: { $0.key < $1.key }) {
            out += "  \"\(t.members[x].name)\" -- \"\(t.members[r.primary].name)\" [style=bold, label=\"primary\"];\n"
            if let s = r.standby {
                out += "  \"\(t.members[x].name)\" -- \"\(t.members[s].name)\" [style=dashed, label=\"standby\"];\n"
            }
        }
        for a in t.accessPeers {
            let a4 = t.accessIPv4Address(a).map { "\\n\($0)" } ?? ""
            out += "  \"access:\(a.name)\" [shape=note, label=\"\(a.name)\\n\(t.accessAddress(a))\(a4)\"];\n"
            out += "  \"access:\(a.name)\" -- \"\(a.hub)\" [style=dotted];\n"
        }
        return out + "}\n"
    }
}
