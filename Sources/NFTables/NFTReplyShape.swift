import CNftnl
import Netlink

/// What the read-back hands libnftnl, checked first. libnftnl trusts a reply to be shaped as
/// the kernel shapes it: an attribute of the wrong size ends the process (`abi_breakage()`), a
/// string without its NUL is read past its end, an expression without a name is a NULL
/// dereference, and expression data goes to per-kind parsers with checks of their own. So a
/// reply is rebuilt from the attributes the read-back uses, each checked against its shape;
/// every other attribute is left out, and a reply whose used attributes are malformed is refused
/// whole (nil), as an unreadable one.
indirect enum NFTReplyShape: Sendable {
    /// Non-empty and NUL-terminated (libnftnl copies it with `strdup`).
    case string
    case u32
    case u64
    /// Any bytes, at most `max`.
    case binary(max: Int)
    /// The listed attributes, each of its shape; the others left out.
    case nested([UInt16: NFTReplyShape])
    /// A list: every child is `NFTA_LIST_ELEM` of the given shape.
    case list(NFTReplyShape)
    /// A rule's expression: its name, and for a counter its two values (the only data read).
    case expression

    // Attribute ids as nf_tables.h numbers them.
    static let table = NFTReplyShape.nested([attr(NFTA_TABLE_NAME): .string])
    static let chain = NFTReplyShape.nested([
        attr(NFTA_CHAIN_TABLE): .string, attr(NFTA_CHAIN_NAME): .string, attr(NFTA_CHAIN_HANDLE): .u64,
        attr(NFTA_CHAIN_HOOK): .nested([attr(NFTA_HOOK_HOOKNUM): .u32, attr(NFTA_HOOK_PRIORITY): .u32]),
        attr(NFTA_CHAIN_POLICY): .u32, attr(NFTA_CHAIN_TYPE): .string,
    ])
    static let rule = NFTReplyShape.nested([
        attr(NFTA_RULE_TABLE): .string, attr(NFTA_RULE_CHAIN): .string, attr(NFTA_RULE_HANDLE): .u64,
        attr(NFTA_RULE_EXPRESSIONS): .list(.expression),
        // The kernel bounds rule userdata to NFT_USERDATA_MAXLEN.
        attr(NFTA_RULE_USERDATA): .binary(max: 256),
    ])
    static let set = NFTReplyShape.nested([
        attr(NFTA_SET_TABLE): .string, attr(NFTA_SET_NAME): .string, attr(NFTA_SET_FLAGS): .u32,
        attr(NFTA_SET_KEY_TYPE): .u32, attr(NFTA_SET_KEY_LEN): .u32,
    ])
    static let setElements = NFTReplyShape.nested([
        attr(NFTA_SET_ELEM_LIST_TABLE): .string, attr(NFTA_SET_ELEM_LIST_SET): .string,
        attr(NFTA_SET_ELEM_LIST_ELEMENTS): .list(
            .nested([
                // libnftnl copies a key into a register of NFT_DATA_VALUE_MAXLEN bytes.
                attr(NFTA_SET_ELEM_KEY): .nested([attr(NFTA_DATA_VALUE): .binary(max: 64)]),
                attr(NFTA_SET_ELEM_FLAGS): .u32,
            ])),
    ])
    private static let counter = NFTReplyShape.nested([
        attr(NFTA_COUNTER_BYTES): .u64, attr(NFTA_COUNTER_PACKETS): .u64,
    ])

    /// A netlink payload (the 4-byte `nfgenmsg`, then attributes) reduced to this shape, or nil
    /// when it is malformed.
    func payload(_ payload: [UInt8]) -> [UInt8]? {
        guard payload.count >= 4, case .nested = self else { return nil }
        guard let attributes = rebuild(payload[4...]) else { return nil }
        return Array(payload[..<4]) + attributes
    }

    /// The attribute value rebuilt to this shape, or nil when it does not have it.
    private func rebuild(_ value: ArraySlice<UInt8>) -> [UInt8]? {
        switch self {
        case .string:
            guard let nul = value.firstIndex(of: 0) else { return nil }
            return nul > value.startIndex ? Array(value[...nul]) : nil
        case .u32: return value.count == 4 ? Array(value) : nil
        case .u64: return value.count == 8 ? Array(value) : nil
        case .binary(let max): return value.count <= max ? Array(value) : nil
        case .nested(let members):
            guard let attributes = try? Attributes(validating: value) else { return nil }
            var out: [UInt8] = []
            for (type, child) in attributes.all {
                guard let shape = members[type] else { continue }
                guard let rebuilt = shape.rebuild(child), Self.append(type, rebuilt, to: &out) else { return nil }
            }
            return out
        case .list(let element):
            guard let attributes = try? Attributes(validating: value) else { return nil }
            var out: [UInt8] = []
            for (type, child) in attributes.all {
                guard type == attr(NFTA_LIST_ELEM), let rebuilt = element.rebuild(child),
                    Self.append(type, rebuilt, to: &out)
                else { return nil }
            }
            return out
        case .expression:
            guard let attributes = try? Attributes(validating: value),
                let rawName = attributes.all.last(where: { $0.type == attr(NFTA_EXPR_NAME) })?.value,
                let name = NFTReplyShape.string.rebuild(rawName)
            else { return nil }
            var out: [UInt8] = []
            guard Self.append(attr(NFTA_EXPR_NAME), name, to: &out) else { return nil }
            if name == Array("counter".utf8) + [0],
                let data = attributes.all.last(where: { $0.type == attr(NFTA_EXPR_DATA) })?.value
            {
                guard let rebuilt = Self.counter.rebuild(data), Self.append(attr(NFTA_EXPR_DATA), rebuilt, to: &out)
                else { return nil }
            }
            return out
        }
    }

    /// False when the value does not fit an attribute.
    private static func append(_ type: UInt16, _ value: [UInt8], to out: inout [UInt8]) -> Bool {
        let length = 4 + value.count
        guard length <= Int(UInt16.max) else { return false }
        withUnsafeBytes(of: UInt16(length)) { out += $0 }
        withUnsafeBytes(of: type) { out += $0 }
        out += value
        out += [UInt8](repeating: 0, count: (4 - length % 4) % 4)
        return true
    }
}
