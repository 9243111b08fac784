import Netlink

/// NFTA_GEN_ID, the only attribute of a generation reply this library reads.
private struct GenerationAttribute: AttributeType {
    var rawValue: UInt16
    static let id = GenerationAttribute(rawValue: 1)
}

extension NFTablesHandle {
    /// The ruleset generation of this handle's namespace: the kernel bumps it at every committed
    /// transaction on any table there, so an unchanged number means an unchanged ruleset and a
    /// table read back before is still what the kernel holds.
    public func generation() throws(NetlinkError) -> UInt32 {
        let scratch = MessageScratch()
        let nlh = scratch.header(.getGeneration, flags: .request, family: .unspecified)
        let replies = try socket.request(NetlinkRequest(bytes: scratch.bytes(nlh), operation: "get ruleset generation"))
        // NFNL_SUBSYS_NFTABLES in the high byte; after the 4-byte nfgenmsg, NFTA_GEN_ID, big endian.
        let newGeneration = UInt16(10) << 8 | NFTMessageType.newGeneration.rawValue
        guard let reply = replies.first(where: { $0.type.rawValue == newGeneration }), reply.payload.count >= 4,
            let id = try Attributes(validating: reply.payload.dropFirst(4), what: "generation").uint32(
                GenerationAttribute.id)
        else {
            throw NetlinkError(operation: "parse ruleset generation", object: "", errno: .EBADMSG)
        }
        return UInt32(bigEndian: id)
    }
}
