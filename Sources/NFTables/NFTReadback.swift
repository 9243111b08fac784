import CMnl
import CNftnl
import Glibc
import Netlink

/// A table as the kernel holds it, read back: enough to verify a replace and compute a diff.
public struct NFTInstalledTable: Hashable, Sendable {
    public var name: String
    public var chains: [NFTInstalledChain]
    public var sets: [NFTInstalledSet]

    public func chain(_ name: String) -> NFTInstalledChain? { chains.first { $0.name == name } }
    public func set(_ name: String) -> NFTInstalledSet? { sets.first { $0.name == name } }
}

public struct NFTInstalledChain: Hashable, Sendable {
    public var name: String
    public var handle: UInt64
    public var base: NFTChain.Base?
    public var rules: [NFTInstalledRule]
}

public struct NFTInstalledRule: Hashable, Sendable {
    public var handle: UInt64
    public var comment: String?
    /// Expression kinds in order (`meta`, `cmp`, `lookup`, `counter`, `immediate`...).
    public var expressionKinds: [String]
    /// From the rule's counter, if it has one.
    public var packets: UInt64?
    public var bytes: UInt64?
}

public struct NFTInstalledSet: Hashable, Sendable {
    public var name: String
    /// nil when the key type is one this library does not model.
    public var fields: [NFTDataType]?
    public var keyLength: Int
    public var interval: Bool
    /// The raw keys with their element flags (interval end markers have flag 1).
    public var keys: [(key: [UInt8], flags: UInt32)]
    /// Decoded elements of non-interval sets with known types.
    public var elements: [NFTSet.Element]

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.fields == b.fields && a.keyLength == b.keyLength && a.interval == b.interval
            && a.keys.map(\.key) == b.keys.map(\.key) && a.keys.map(\.flags) == b.keys.map(\.flags)
    }

    public func hash(into h: inout Hasher) {
        h.combine(name)
        h.combine(keys.count)
    }
}

extension NFTablesHandle {
    /// Reads the table back, or nil when there is none.
    public func read(_ name: String) throws(NetlinkError) -> NFTInstalledTable? {
        let scratch = MessageScratch()
        do {
            try socket.request(NFTable(name: name).tableMessage(scratch, .getTable, "get table"))
        } catch  where error.errno == .ENOENT {
            return nil
        }
        // Chain dumps are not filtered by table in the kernel: filter here (and for the others too).
        var chains = try parsed(dump(scratch, .getChain, name, "list chains"), "chain", name, parseChain).filter {
            $0.table == name
        }
        .map(\.chain)
        let rules = try parsed(dump(scratch, .getRule, name, "list rules"), "rule", name, parseRule).filter {
            $0.table == name
        }
        for i in chains.indices {
            chains[i].rules = rules.filter { $0.chain == chains[i].name }.map(\.rule)
        }
        var sets: [NFTInstalledSet] = []
        for (table, parsed) in try parsed(dump(scratch, .getSet, name, "list sets"), "set", name, parseSet)
        where table == name {
            var set = parsed
            try readElements(scratch, table: name, into: &set)
            sets.append(set)
        }
        return NFTInstalledTable(name: name, chains: chains, sets: sets)
    }

    /// Names of the `inet` tables in this namespace (ours and everyone else's).
    public func tableNames() throws(NetlinkError) -> [String] {
        let scratch = MessageScratch()
        let nlh = scratch.header(.getTable, flags: [.request, .dump])
        let replies = try socket.request(NetlinkRequest(bytes: scratch.bytes(nlh), operation: "list tables"))
        return replies.compactMap(parseTable).filter { $0.family == NFTable.family }.map(\.name)
    }

    private func dump(_ scratch: MessageScratch, _ type: NFTMessageType, _ table: String, _ operation: String)
        throws(NetlinkError) -> [NetlinkMessage]
    {
        let nlh = scratch.header(type, flags: [.request, .dump])
        // Every GET takes the table name as attribute 1 (NFTA_*_TABLE): the kernel filters by it.
        mnl_attr_put_strz(nlh, 1, table)
        return try socket.request(
            NetlinkRequest(bytes: scratch.bytes(nlh), operation: operation, object: "inet \(table)"))
    }

    /// Every reply parsed; one refused fails the read (unreadable), rather than being read as absent.
    private func parsed<T>(
        _ replies: [NetlinkMessage], _ what: String, _ object: String, _ parse: (NetlinkMessage) -> T?
    ) throws(NetlinkError) -> [T] {
        var out: [T] = []
        for reply in replies {
            guard let value = parse(reply) else {
                throw NetlinkError(operation: "parse \(what)", object: "inet \(object)", errno: .EBADMSG)
            }
            out.append(value)
        }
        return out
    }

    private func readElements(_ scratch: MessageScratch, table: String, into set: inout NFTInstalledSet)
        throws(NetlinkError)
    {
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, attr(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(s, attr(NFTNL_SET_NAME), set.name)
        nftnl_set_set_u32(s, attr(NFTNL_SET_FAMILY), UInt32(NFTable.family.rawValue))
        let nlh = scratch.header(.getSetElement, flags: [.request, .dump])
        nftnl_set_elems_nlmsg_build_payload(nlh, s)
        let replies = try socket.request(
            NetlinkRequest(bytes: scratch.bytes(nlh), operation: "list elements", object: "inet \(table) \(set.name)"))
        set.keys = try parsed(replies, "set elements", "\(table) \(set.name)", parseSetElements).flatMap { $0 }
        set.decodeElements()
    }
}

extension NFTInstalledSet {
    /// Decodes the keys of a non-interval set of known types into elements.
    mutating func decodeElements() {
        guard !interval, let fields else { return }
        elements = keys.compactMap { key, _ in
            var values: [NFTValue] = []
            var offset = 0
            for field in fields {
                // A key shorter than its type says is not decoded (and not sliced past its end).
                guard offset <= key.count, let v = NFTValue.decode(key[offset...], as: field) else { return nil }
                values.append(v)
                offset += fields.count > 1 ? field.paddedLength : field.length
            }
            return .values(values)
        }
    }
}

/// Hands libnftnl a `struct nlmsghdr *` rebuilt from a parsed message, reduced to `shape` first;
/// nil, without libnftnl seeing it, when the reply does not have that shape.
private func withHeader<T>(
    _ message: NetlinkMessage, _ shape: NFTReplyShape, _ body: (UnsafePointer<nlmsghdr>) -> T?
) -> T? {
    guard let payload = shape.payload(message.payload) else { return nil }
    var bytes = [UInt8](repeating: 0, count: 16)
    withUnsafeBytes(of: UInt32(16 + payload.count)) { bytes.replaceSubrange(0..<4, with: $0) }
    withUnsafeBytes(of: message.type.rawValue) { bytes.replaceSubrange(4..<6, with: $0) }
    withUnsafeBytes(of: message.flags.rawValue) { bytes.replaceSubrange(6..<8, with: $0) }
    bytes += payload
    return bytes.withUnsafeBytes { body($0.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)) }
}

/// A string attribute libnftnl parsed, nil when the reply did not carry it (a malformed or
/// foreign reply must not crash the reader).
private func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }

/// A table of a dump: its family and name.
func parseTable(_ message: NetlinkMessage) -> (family: AddressFamily, name: String)? {
    withHeader(message, .table) { nlh in
        let t = nftnl_table_alloc()!
        defer { nftnl_table_free(t) }
        guard nftnl_table_nlmsg_parse(nlh, t) >= 0, let name = string(nftnl_table_get_str(t, attr(NFTNL_TABLE_NAME)))
        else { return nil }
        let family = AddressFamily(
            rawValue: UInt8(truncatingIfNeeded: nftnl_table_get_u32(t, attr(NFTNL_TABLE_FAMILY))))
        return (family, name)
    }
}

/// The keys of one reply of a set's element dump, with their element flags.
func parseSetElements(_ message: NetlinkMessage) -> [(key: [UInt8], flags: UInt32)]? {
    withHeader(message, .setElements) { nlh in
        let parsed = nftnl_set_alloc()!
        defer { nftnl_set_free(parsed) }
        guard nftnl_set_elems_nlmsg_parse(nlh, parsed) >= 0 else { return nil }
        var out: [(key: [UInt8], flags: UInt32)] = []
        let iter = nftnl_set_elems_iter_create(parsed)!
        defer { nftnl_set_elems_iter_destroy(iter) }
        while let e = nftnl_set_elems_iter_next(iter) {
            var length: UInt32 = 0
            guard let key = nftnl_set_elem_get(e, attr(NFTNL_SET_ELEM_KEY), &length) else { continue }
            let flags =
                nftnl_set_elem_is_set(e, attr(NFTNL_SET_ELEM_FLAGS))
                ? nftnl_set_elem_get_u32(e, attr(NFTNL_SET_ELEM_FLAGS)) : 0
            out.append((Array(UnsafeRawBufferPointer(start: key, count: Int(length))), flags))
        }
        return out
    }
}

func parseChain(_ message: NetlinkMessage) -> (table: String, chain: NFTInstalledChain)? {
    withHeader(message, .chain) { nlh in
        let c = nftnl_chain_alloc()!
        defer { nftnl_chain_free(c) }
        guard nftnl_chain_nlmsg_parse(nlh, c) >= 0 else { return nil }
        var base: NFTChain.Base?
        if nftnl_chain_is_set(c, attr(NFTNL_CHAIN_HOOKNUM)) {
            base = NFTChain.Base(
                hook: NFTHook(rawValue: nftnl_chain_get_u32(c, attr(NFTNL_CHAIN_HOOKNUM))),
                priority: nftnl_chain_get_s32(c, attr(NFTNL_CHAIN_PRIO)),
                policy: NFTPolicy(rawValue: nftnl_chain_get_u32(c, attr(NFTNL_CHAIN_POLICY))),
                type: string(nftnl_chain_get_str(c, attr(NFTNL_CHAIN_TYPE))) ?? "filter")
        }
        guard let name = string(nftnl_chain_get_str(c, attr(NFTNL_CHAIN_NAME))),
            let table = string(nftnl_chain_get_str(c, attr(NFTNL_CHAIN_TABLE)))
        else { return nil }
        let chain = NFTInstalledChain(
            name: name, handle: nftnl_chain_get_u64(c, attr(NFTNL_CHAIN_HANDLE)), base: base, rules: [])
        return (table, chain)
    }
}

func parseRule(_ message: NetlinkMessage) -> (table: String, chain: String, rule: NFTInstalledRule)? {
    withHeader(message, .rule) { nlh in
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        guard nftnl_rule_nlmsg_parse(nlh, r) >= 0,
            let table = string(nftnl_rule_get_str(r, attr(NFTNL_RULE_TABLE))),
            let chain = string(nftnl_rule_get_str(r, attr(NFTNL_RULE_CHAIN)))
        else { return nil }
        var rule = NFTInstalledRule(handle: nftnl_rule_get_u64(r, attr(NFTNL_RULE_HANDLE)), expressionKinds: [])
        let iter = nftnl_expr_iter_create(r)!
        defer { nftnl_expr_iter_destroy(iter) }
        while let e = nftnl_expr_iter_next(iter) {
            guard let kind = string(nftnl_expr_get_str(e, attr(NFTNL_EXPR_NAME))) else { return nil }
            rule.expressionKinds.append(kind)
            if kind == "counter" {
                rule.packets = nftnl_expr_get_u64(e, attr(NFTNL_EXPR_CTR_PACKETS))
                rule.bytes = nftnl_expr_get_u64(e, attr(NFTNL_EXPR_CTR_BYTES))
            }
        }
        var length: UInt32 = 0
        if let data = nftnl_rule_get_data(r, attr(NFTNL_RULE_USERDATA), &length) {
            rule.comment = ruleComment(Array(UnsafeRawBufferPointer(start: data, count: Int(length))))
        }
        return (table, chain, rule)
    }
}

/// Userdata is a list of (type u8, length u8, value) records; the comment is type 0, NUL-terminated.
func ruleComment(_ userdata: [UInt8]) -> String? {
    var i = 0
    while i + 2 <= userdata.count {
        let type = userdata[i]
        let length = Int(userdata[i + 1])
        guard i + 2 + length <= userdata.count else { return nil }
        if type == UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue) {
            return String(decoding: userdata[i + 2..<i + 2 + length].prefix { $0 != 0 }, as: UTF8.self)
        }
        i += 2 + length
    }
    return nil
}

func parseSet(_ message: NetlinkMessage) -> (String, NFTInstalledSet)? {
    withHeader(message, .set) { nlh in
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        guard nftnl_set_nlmsg_parse(nlh, s) >= 0,
            let table = string(nftnl_set_get_str(s, attr(NFTNL_SET_TABLE))),
            let name = string(nftnl_set_get_str(s, attr(NFTNL_SET_NAME)))
        else { return nil }
        let flags = nftnl_set_get_u32(s, attr(NFTNL_SET_FLAGS))
        return (
            table,
            NFTInstalledSet(
                name: name,
                fields: NFTDataType.fields(ofKeyType: nftnl_set_get_u32(s, attr(NFTNL_SET_KEY_TYPE))),
                keyLength: Int(nftnl_set_get_u32(s, attr(NFTNL_SET_KEY_LEN))),
                interval: flags & 0x4 != 0, keys: [], elements: [])
        )
    }
}

extension NFTDataType {
    /// Unpacks nftables' 6-bit-per-field concatenated type id.
    static func fields(ofKeyType keyType: UInt32) -> [NFTDataType]? {
        var v = keyType
        var out: [NFTDataType] = []
        while v != 0 {
            guard let t = all.first(where: { $0.id == v & 0x3F }) else { return nil }
            out.insert(t, at: 0)
            v >>= 6
        }
        return out.isEmpty ? nil : out
    }
}
