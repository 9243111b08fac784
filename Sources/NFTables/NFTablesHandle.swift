import Netlink

/// nftables in one network namespace, through a NETLINK_NETFILTER socket opened there.
/// It only ever names the tables it is given: other tables are left exactly as they are.
///
///     let nft = try NFTablesHandle(namespace: "ovl-1234abcd")
///     try nft.replace(table)                  // one atomic transaction
///     let installed = try nft.read("overlay") // chains, rules, sets, elements
public final class NFTablesHandle: Sendable {
    public let socket: NetlinkSocket

    public init(namespace: String? = nil) throws(NetlinkError) {
        socket = try NetlinkSocket(protocol: .netfilter, namespace: namespace)
    }

    /// Replaces the table in one transaction (created if absent): no packet ever sees it
    /// half-written, and on any error nothing changes.
    public func replace(_ table: NFTable) throws {
        try commit(table.replaceMessages())
    }

    /// Deletes the table if present (absent is not an error).
    public func delete(table name: String) throws(NetlinkError) {
        try commit(NFTable.deleteMessages(name))
    }

    func commit(_ messages: [NetlinkRequest]) throws(NetlinkError) {
        // One sendmsg: nfnetlink requires the whole batch in a single buffer.
        for result in try socket.transact(messages, atomic: true) {
            _ = try result.get()
        }
    }
}
