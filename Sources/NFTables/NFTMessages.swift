import CMnl
import CNftnl
import Glibc
import Netlink

// The libnftnl edge: turns the typed table into netlink messages and parses replies back. Only
// this file and NFTReadback.swift see libnftnl's integer attribute ids.

/// nf_tables message types (NFT_MSG_*), for readability of the calls below.
enum NFTMessageType: UInt16 {
    case newTable = 0
    case getTable = 1
    case deleteTable = 2
    case newChain = 3
    case getChain = 4
    case newRule = 6
    case getRule = 7
    case newSet = 9
    case getSet = 10
    case newSetElement = 12
    case getSetElement = 13
    case newGeneration = 15
    case getGeneration = 16
}

@inline(__always) func attr<T: BinaryInteger>(_ x: T) -> UInt16 { UInt16(x) }
@inline(__always) func attr<T: RawRepresentable>(_ x: T) -> UInt16 where T.RawValue: BinaryInteger {
    UInt16(x.rawValue)
}

/// A scratch buffer libnftnl writes one message into; the bytes are copied out at once.
final class MessageScratch {
    // One set-element message may hold up to 64 KiB of nested attributes plus one element.
    static let size = 160 * 1024
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
    deinit { buffer.deallocate() }

    /// How much of the buffer the previous message used. libnftnl leaves some padding bytes
    /// unwritten, so each message starts on zeroed memory: what goes to the kernel, and
    /// `NFTable.contentBytes`, is then the same for the same table.
    /// At first the whole buffer: fresh memory is not zeroed.
    private var used = MessageScratch.size

    var chars: UnsafeMutablePointer<CChar> { buffer.assumingMemoryBound(to: CChar.self) }

    func header(_ type: NFTMessageType, flags: MessageFlags, family: AddressFamily = NFTable.family)
        -> UnsafeMutablePointer<nlmsghdr>
    {
        memset(buffer, 0, used)
        used = 64
        return nftnl_nlmsg_build_hdr(chars, type.rawValue, UInt16(family.rawValue), flags.rawValue, 0)
    }

    func bytes(_ nlh: UnsafeMutablePointer<nlmsghdr>) -> [UInt8] {
        let length = Int(nlh.pointee.nlmsg_len)
        used = max(used, min(Self.size, (length + 7) & ~7))
        return Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(nlh), count: length))
    }
}

extension NFTable {
    /// The whole transaction that replaces this table: BATCH_BEGIN, add table (so the delete
    /// cannot fail when it is absent), delete table, add table, chains, sets, elements, rules,
    /// BATCH_END. The kernel applies all of it or none of it.
    public func replaceMessages() throws(NFTError) -> [NetlinkRequest] {
        let scratch = MessageScratch()
        var out: [NetlinkRequest] = [framing(scratch, begin: true)]
        out.append(tableMessage(scratch, .newTable, "ensure table"))
        out.append(tableMessage(scratch, .deleteTable, "flush table"))
        out.append(tableMessage(scratch, .newTable, "add table"))
        try out += contentMessages(scratch)
        out.append(framing(scratch, begin: false))
        return out
    }

    /// The transaction that deletes this table if present.
    public static func deleteMessages(_ name: String) -> [NetlinkRequest] {
        let scratch = MessageScratch()
        let empty = NFTable(name: name)
        return [
            empty.framing(scratch, begin: true),
            empty.tableMessage(scratch, .newTable, "ensure table"),
            empty.tableMessage(scratch, .deleteTable, "delete table"),
            empty.framing(scratch, begin: false),
        ]
    }

    /// The table's content as the kernel receives it (chains, sets, elements and rules, without
    /// the batch framing), concatenated: equal tables give the same bytes, in any process, so a
    /// digest of them identifies a table's content across runs.
    public func contentBytes() throws(NFTError) -> [UInt8] {
        try contentMessages(MessageScratch()).flatMap(\.bytes)
    }

    func framing(_ scratch: MessageScratch, begin: Bool) -> NetlinkRequest {
        let nlh = begin ? nftnl_batch_begin(scratch.chars, 0)! : nftnl_batch_end(scratch.chars, 0)!
        return NetlinkRequest(
            bytes: scratch.bytes(nlh), operation: begin ? "begin batch" : "end batch", expectsReply: false)
    }

    func tableMessage(_ scratch: MessageScratch, _ type: NFTMessageType, _ operation: String) -> NetlinkRequest {
        let t = nftnl_table_alloc()!
        defer { nftnl_table_free(t) }
        nftnl_table_set_str(t, attr(NFTNL_TABLE_NAME), name)
        nftnl_table_set_u32(t, attr(NFTNL_TABLE_FAMILY), UInt32(NFTable.family.rawValue))
        let nlh = scratch.header(type, flags: type == .newTable ? [.request, .create] : .request)
        nftnl_table_nlmsg_build_payload(nlh, t)
        return NetlinkRequest(bytes: scratch.bytes(nlh), operation: operation, object: "inet \(name)")
    }

    func contentMessages(_ scratch: MessageScratch) throws(NFTError) -> [NetlinkRequest] {
        var out: [NetlinkRequest] = []
        var setTypes: [String: [NFTDataType]] = [:]
        var setIDs: [String: UInt32] = [:]
        for set in sets {
            guard setTypes[set.name] == nil else { throw NFTError.invalid("set \(set.name) defined twice") }
            setTypes[set.name] = set.fields
            setIDs[set.name] = UInt32(setIDs.count + 1)
        }
        let chainNames = Set(chains.map(\.name))
        guard chainNames.count == chains.count else { throw NFTError.invalid("a chain is defined twice") }

        for chain in chains {
            let c = nftnl_chain_alloc()!
            defer { nftnl_chain_free(c) }
            nftnl_chain_set_str(c, attr(NFTNL_CHAIN_TABLE), name)
            nftnl_chain_set_str(c, attr(NFTNL_CHAIN_NAME), chain.name)
            nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_FAMILY), UInt32(NFTable.family.rawValue))
            if let base = chain.base {
                nftnl_chain_set_str(c, attr(NFTNL_CHAIN_TYPE), base.type)
                nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_HOOKNUM), base.hook.rawValue)
                nftnl_chain_set_s32(c, attr(NFTNL_CHAIN_PRIO), base.priority)
                nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_POLICY), base.policy.rawValue)
            }
            let nlh = scratch.header(.newChain, flags: [.request, .create])
            nftnl_chain_nlmsg_build_payload(nlh, c)
            out.append(
                NetlinkRequest(bytes: scratch.bytes(nlh), operation: "add chain", object: "inet \(name) \(chain.name)"))
        }

        for set in sets {
            try out += setMessages(scratch, set, id: setIDs[set.name]!)
        }

        for chain in chains {
            for (position, rule) in chain.rules.enumerated() {
                for case .verdict(.jump(let target)) in [rule.verdict.map(NFTExpression.verdict)]
                where !chainNames.contains(target) {
                    throw NFTError.invalid("chain \(chain.name) jumps to unknown chain \(target)")
                }
                for case .inSet(_, let setName, _) in rule.matches where setTypes[setName] == nil {
                    throw NFTError.invalid("chain \(chain.name) looks up unknown set @\(setName)")
                }
                let expressions = try rule.expressions(sets: setTypes)
                out.append(
                    ruleMessage(
                        scratch, chain.name, rule, expressions, setIDs,
                        object: "inet \(name) \(chain.name) rule \(position + 1)"))
            }
        }
        return out
    }

    func setMessages(_ scratch: MessageScratch, _ set: NFTSet, id: UInt32) throws(NFTError) -> [NetlinkRequest] {
        guard !set.fields.isEmpty else { throw NFTError.invalid("set \(set.name) has no type") }
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, attr(NFTNL_SET_TABLE), name)
        nftnl_set_set_str(s, attr(NFTNL_SET_NAME), set.name)
        nftnl_set_set_u32(s, attr(NFTNL_SET_FAMILY), UInt32(NFTable.family.rawValue))
        nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_TYPE), set.keyType)
        nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_LEN), UInt32(set.keyLength))
        nftnl_set_set_u32(s, attr(NFTNL_SET_FLAGS), set.flags)
        nftnl_set_set_u32(s, attr(NFTNL_SET_ID), id)
        if !set.interval && set.elements.count > 0 {
            // A size hint lets the kernel pick a hash sized for the elements at once instead of
            // growing (rehashing) while 10,000 arrive; twice the count leaves room for additions.
            nftnl_set_set_u32(s, attr(NFTNL_SET_DESC_SIZE), UInt32(clamping: max(64, set.elements.count * 2)))
        }
        // The key byte order as nft records it (strings host order, numbers and addresses network
        // order), so `nft list` prints values rather than reversed bytes.
        let udata = nftnl_udata_buf_alloc(64)!
        defer { nftnl_udata_buf_free(udata) }
        let byteOrder: UInt32 = set.fields == [.interfaceName] ? 1 : 2  // BYTEORDER_HOST/BIG_ENDIAN
        nftnl_udata_put_u32(udata, UInt8(NFTNL_UDATA_SET_KEYBYTEORDER.rawValue), byteOrder)
        nftnl_set_set_data(s, attr(NFTNL_SET_USERDATA), nftnl_udata_buf_data(udata), nftnl_udata_buf_len(udata))

        var nlh = scratch.header(.newSet, flags: [.request, .create])
        nftnl_set_nlmsg_build_payload(nlh, s)
        var out = [NetlinkRequest(bytes: scratch.bytes(nlh), operation: "add set", object: "inet \(name) \(set.name)")]

        guard !set.elements.isEmpty else { return out }
        try set.forEachEncodedElement { key, flags in
            let e = nftnl_set_elem_alloc()!
            nftnl_set_elem_set(e, attr(NFTNL_SET_ELEM_KEY), key.baseAddress, UInt32(key.count))
            if flags != 0 { nftnl_set_elem_set_u32(e, attr(NFTNL_SET_ELEM_FLAGS), flags) }
            nftnl_set_elem_add(s, e)  // the set owns it now
        }
        // As many messages as the elements need; each nested list stays under 64 KiB.
        let iter = nftnl_set_elems_iter_create(s)!
        defer { nftnl_set_elems_iter_destroy(iter) }
        var more: Int32 = 1
        while more > 0 {
            nlh = scratch.header(.newSetElement, flags: [.request, .create])
            more = nftnl_set_elems_nlmsg_build_payload_iter(nlh, iter)
            out.append(
                NetlinkRequest(bytes: scratch.bytes(nlh), operation: "add elements", object: "inet \(name) \(set.name)")
            )
        }
        return out
    }

    func ruleMessage(
        _ scratch: MessageScratch, _ chain: String, _ rule: NFTRule, _ expressions: [NFTExpression],
        _ setIDs: [String: UInt32],
        object: String
    ) -> NetlinkRequest {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), name)
        nftnl_rule_set_str(r, attr(NFTNL_RULE_CHAIN), chain)
        nftnl_rule_set_u32(r, attr(NFTNL_RULE_FAMILY), UInt32(NFTable.family.rawValue))
        for expression in expressions {
            nftnl_rule_add_expr(r, expression.nftnl(setIDs))
        }
        if let comment = rule.comment {
            let udata = nftnl_udata_buf_alloc(UInt32(comment.utf8.count + 16))!
            defer { nftnl_udata_buf_free(udata) }
            nftnl_udata_put_strz(udata, UInt8(NFTNL_UDATA_RULE_COMMENT.rawValue), comment)
            nftnl_rule_set_data(r, attr(NFTNL_RULE_USERDATA), nftnl_udata_buf_data(udata), nftnl_udata_buf_len(udata))
        }
        let nlh = scratch.header(.newRule, flags: [.request, .create, .append])
        nftnl_rule_nlmsg_build_payload(nlh, r)
        return NetlinkRequest(bytes: scratch.bytes(nlh), operation: "add rule", object: object)
    }
}

extension NFTExpression {
    /// A libnftnl expression object; the rule takes ownership.
    func nftnl(_ setIDs: [String: UInt32]) -> OpaquePointer {
        func make(_ kind: String) -> OpaquePointer { nftnl_expr_alloc(kind)! }
        func data(_ e: OpaquePointer, _ a: UInt16, _ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { nftnl_expr_set(e, a, $0.baseAddress, UInt32($0.count)) }
        }
        switch self {
        case .meta(let key, let register):
            let e = make("meta")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_META_KEY), key.rawValue)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_META_DREG), register)
            return e
        case .payload(let base, let offset, let length, let register):
            let e = make("payload")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_PAYLOAD_BASE), base.rawValue)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_PAYLOAD_LEN), length)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_PAYLOAD_DREG), register)
            return e
        case .cmp(let register, let op, let bytes):
            let e = make("cmp")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_CMP_SREG), register)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_CMP_OP), op.rawValue)
            data(e, attr(NFTNL_EXPR_CMP_DATA), bytes)
            return e
        case .bitwise(let register, let length, let mask, let xor):
            let e = make("bitwise")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BITWISE_SREG), register)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BITWISE_DREG), register)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BITWISE_LEN), length)
            data(e, attr(NFTNL_EXPR_BITWISE_MASK), mask)
            data(e, attr(NFTNL_EXPR_BITWISE_XOR), xor)
            return e
        case .hostToNetwork(let register, let length, let size):
            let e = make("byteorder")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BYTEORDER_SREG), register)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BYTEORDER_DREG), register)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BYTEORDER_OP), 1)  // NFT_BYTEORDER_HTON
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BYTEORDER_LEN), length)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_BYTEORDER_SIZE), size)
            return e
        case .ctState(let register):
            let e = make("ct")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_CT_KEY), 0)  // NFT_CT_STATE
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_CT_DREG), register)
            return e
        case .lookup(let register, let set, let inverted):
            let e = make("lookup")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_LOOKUP_SREG), register)
            nftnl_expr_set_str(e, attr(NFTNL_EXPR_LOOKUP_SET), set)
            // The set is created in the same transaction: name it by id too.
            if let id = setIDs[set] { nftnl_expr_set_u32(e, attr(NFTNL_EXPR_LOOKUP_SET_ID), id) }
            if inverted { nftnl_expr_set_u32(e, attr(NFTNL_EXPR_LOOKUP_FLAGS), 1) }  // NFT_LOOKUP_F_INV
            return e
        case .counter:
            return make("counter")
        case .masquerade:
            return make("masq")
        case .notrack:
            return make("notrack")
        case .fibDaddrType(let register):
            let e = make("fib")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_FIB_DREG), register)
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_FIB_RESULT), 3)  // NFT_FIB_RESULT_ADDRTYPE
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_FIB_FLAGS), 1 << 1)  // NFTA_FIB_F_DADDR
            return e
        case .verdict(let verdict):
            let e = make("immediate")
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_IMM_DREG), 0)  // NFT_REG_VERDICT
            nftnl_expr_set_u32(e, attr(NFTNL_EXPR_IMM_VERDICT), UInt32(bitPattern: verdict.code))
            if case .jump(let chain) = verdict { nftnl_expr_set_str(e, attr(NFTNL_EXPR_IMM_CHAIN), chain) }
            return e
        }
    }
}
