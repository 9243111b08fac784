/// Netlink's wire alignment (`NLMSG_ALIGN`, `NLA_ALIGN`): 4 bytes.
@inline(__always) func netlinkAlign(_ n: Int) -> Int { (n + 3) & ~3 }

/// Builds one netlink message: header, a protocol header (ifinfomsg, rtmsg, genlmsghdr...) and
/// attributes, in host byte order as the kernel expects. The socket fills in sequence and port.
public struct MessageBuilder: Sendable {
    public private(set) var bytes: [UInt8]

    public init(type: MessageType, flags: MessageFlags) {
        bytes = []
        bytes.reserveCapacity(128)
        append(UInt32(16))  // length, patched by `message`
        append(type.rawValue)
        append(flags.rawValue)
        append(UInt32(0))  // sequence
        append(UInt32(0))  // port id
    }

    /// Appends a fixed-size integer in host order (protocol header fields).
    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    public mutating func append(contentsOf raw: some Collection<UInt8>) {
        bytes.append(contentsOf: raw)
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    public mutating func attribute<A: AttributeType>(_ type: A, bytes payload: some Collection<UInt8>) {
        pad()
        append(UInt16(4 + payload.count))
        append(type.rawValue)
        bytes.append(contentsOf: payload)
        pad()
    }

    public mutating func attribute<A: AttributeType, T: FixedWidthInteger>(_ type: A, _ value: T) {
        withUnsafeBytes(of: value) { attribute(type, bytes: $0) }
    }

    /// A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND, CTRL_ATTR_FAMILY_NAME).
    public mutating func attribute<A: AttributeType>(_ type: A, string: String) {
        attribute(type, bytes: Array(string.utf8) + [0])
    }

    /// A nested attribute (with `NLA_F_NESTED` set) whose children `body` appends.
    public mutating func nested<A: AttributeType>(_ type: A, _ body: (inout MessageBuilder) -> Void) {
        pad()
        let start = bytes.count
        append(UInt16(0))
        append(type.rawValue | AttributeFlags.nested)
        body(&self)
        let length = UInt16(bytes.count - start)
        withUnsafeBytes(of: length) { bytes.replaceSubrange(start..<start + 2, with: $0) }
        pad()
    }

    /// Bytes so far: a caller that keeps messages under a size checks this after each part.
    public var count: Int { bytes.count }

    /// Cuts the message back to `count` bytes (a part that turned out too big).
    public mutating func truncate(to count: Int) {
        bytes.removeSubrange(count...)
    }

    /// Opens a nest (NLA_F_NESTED set) whose end is not known in advance: returns its offset
    /// for `endNested`. Lets a caller stop filling a nest when the message is full.
    public mutating func beginNested<A: AttributeType>(_ type: A) -> Int {
        pad()
        let start = bytes.count
        append(UInt16(0))
        append(type.rawValue | AttributeFlags.nested)
        return start
    }

    public mutating func endNested(_ start: Int) {
        let length = UInt16(bytes.count - start)
        withUnsafeBytes(of: length) { bytes.replaceSubrange(start..<start + 2, with: $0) }
    }

    /// Zeroes the buffer (a message may carry a private key).
    public mutating func wipe() {
        bytes.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        bytes.removeAll()
    }

    /// The finished message with its length set.
    public var message: [UInt8] {
        var out = bytes
        withUnsafeBytes(of: UInt32(out.count)) { out.replaceSubrange(0..<4, with: $0) }
        return out
    }
}

/// One received netlink message: header fields and the payload after the 16-byte header.
public struct NetlinkMessage: Sendable, Hashable {
    public var type: MessageType
    public var flags: MessageFlags
    public var sequence: UInt32
    public var portID: UInt32
    public var payload: [UInt8]

    public init(type: MessageType, flags: MessageFlags, sequence: UInt32, portID: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    /// Splits a buffer (one `recv`) into messages. A truncated or malformed message ends the walk
    /// with EBADMSG rather than reading past the buffer.
    public static func parse(_ buffer: some Collection<UInt8>) throws(NetlinkError) -> [NetlinkMessage] {
        let bytes = Array(buffer)
        var out: [NetlinkMessage] = []
        var offset = 0
        while bytes.count - offset >= 16 {
            let length = Int(bytes.load(UInt32.self, at: offset))
            guard length >= 16, offset + length <= bytes.count else {
                throw NetlinkError(operation: "parse reply", object: "", errno: .EBADMSG)
            }
            out.append(
                NetlinkMessage(
                    type: MessageType(bytes.load(UInt16.self, at: offset + 4)),
                    flags: MessageFlags(rawValue: bytes.load(UInt16.self, at: offset + 6)),
                    sequence: bytes.load(UInt32.self, at: offset + 8),
                    portID: bytes.load(UInt32.self, at: offset + 12),
                    payload: Array(bytes[offset + 16..<offset + length])))
            offset += netlinkAlign(length)
        }
        return out
    }

    /// For NLMSG_ERROR: the (negated) errno, 0 for an ACK.
    public var errorCode: Int32? {
        guard type == .error, payload.count >= 4 else { return nil }
        return payload.load(Int32.self, at: 0)
    }

    /// For NLMSG_ERROR: the sequence number of the request it answers (from the echoed header).
    var erroredSequence: UInt32? {
        guard type == .error, payload.count >= 4 + 16 else { return nil }
        return payload.load(UInt32.self, at: 4 + 8)
    }

    /// The extended-ACK text (NLMSGERR_ATTR_MSG) of an error reply, if the kernel sent one.
    var extendedAckMessage: String? {
        guard type == .error, flags.contains(.ackTLVs), payload.count >= 20 else { return nil }
        // With NETLINK_CAP_ACK only the request's header is echoed, unless the kernel says otherwise.
        let echoed = flags.contains(.capped) ? 16 : Int(payload.load(UInt32.self, at: 4))
        let start = 4 + netlinkAlign(echoed)
        guard start <= payload.count else { return nil }
        let attrs = Attributes(payload[start...])
        return attrs.string(ExtendedAckAttribute.message)
    }
}

struct ExtendedAckAttribute: AttributeType {
    var rawValue: UInt16
    static let message = ExtendedAckAttribute(1)
}

extension Collection<UInt8> where Index == Int {
    /// Reads an integer in host order at `offset` (unaligned is fine).
    func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { dst in
            for i in 0..<MemoryLayout<T>.size { dst[i] = self[offset + i] }
        }
        return value
    }
}

/// The attributes of one level (TLVs), by type with flag bits masked off. Later duplicates win
/// for lookups; `all` keeps them in order (for arrays of nested attributes).
public struct Attributes: Sendable {
    public private(set) var all: [(type: UInt16, value: ArraySlice<UInt8>)] = []

    public init(_ bytes: ArraySlice<UInt8>) {
        (all, _) = Self.walk(bytes)
    }

    /// The attributes of one level, and whether a malformed length ended the walk early.
    private static func walk(_ bytes: ArraySlice<UInt8>) -> ([(type: UInt16, value: ArraySlice<UInt8>)], Bool) {
        var all: [(type: UInt16, value: ArraySlice<UInt8>)] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 4 {
            let length = Int(bytes.load(UInt16.self, at: offset))
            let type = bytes.load(UInt16.self, at: offset + 2) & AttributeFlags.typeMask
            // A malformed length ends the level: the kernel's own nla_ok does the same.
            guard length >= 4, offset + length <= bytes.endIndex else { return (all, true) }
            all.append((type, bytes[offset + 4..<offset + length]))
            offset += netlinkAlign(length)
        }
        return (all, false)
    }

    public init(_ bytes: [UInt8]) { self.init(bytes[...]) }

    /// For replies whose every byte must be accounted for: a length that runs past the end
    /// (or below the header) throws EBADMSG instead of ending the level quietly.
    public init(validating bytes: ArraySlice<UInt8>, what: String = "attributes") throws(NetlinkError) {
        let (all, malformed) = Self.walk(bytes)
        if malformed { throw NetlinkError(operation: "parse \(what)", object: "", errno: .EBADMSG) }
        self.all = all
    }

    /// A payload read as an integer of exactly its size (u8, u16, u32, u64); nil otherwise.
    public static func exact<T: FixedWidthInteger>(_ value: ArraySlice<UInt8>, as _: T.Type = T.self) -> T? {
        guard value.count == MemoryLayout<T>.size else { return nil }
        return value.load(T.self, at: value.startIndex)
    }

    public subscript<A: AttributeType>(_ type: A) -> ArraySlice<UInt8>? {
        all.last(where: { $0.type == type.rawValue })?.value
    }

    public func contains<A: AttributeType>(_ type: A) -> Bool { self[type] != nil }

    public func integer<A: AttributeType, T: FixedWidthInteger>(_ type: A, as _: T.Type = T.self) -> T? {
        guard let v = self[type], v.count >= MemoryLayout<T>.size else { return nil }
        return v.load(T.self, at: v.startIndex)
    }

    public func uint32<A: AttributeType>(_ type: A) -> UInt32? { integer(type) }

    /// A string attribute, with its NUL terminator (if any) removed.
    public func string<A: AttributeType>(_ type: A) -> String? {
        guard let v = self[type] else { return nil }
        let end = v.firstIndex(of: 0) ?? v.endIndex
        return String(decoding: v[v.startIndex..<end], as: UTF8.self)
    }

    public func nested<A: AttributeType>(_ type: A) -> Attributes? {
        self[type].map { Attributes($0) }
    }
}
