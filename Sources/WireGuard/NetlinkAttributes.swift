/// Netlink message and attribute layout, as plain bytes (native byte order, which netlink uses
/// for everything except ports and addresses inside socket addresses).
///
///     nlmsghdr   u32 len | u16 type | u16 flags | u32 seq | u32 pid      16 bytes
///     genlmsghdr u8 cmd  | u8 version | u16 reserved                     4 bytes
///     nlattr     u16 len (header + payload, unpadded) | u16 type, payload padded to 4
enum Netlink {
    static let headerSize = 16
    static let genlHeaderSize = 4
    static let attributeHeaderSize = 4

    static let flagRequest: UInt16 = 0x1
    static let flagMulti: UInt16 = 0x2
    static let flagAck: UInt16 = 0x4
    static let flagDump: UInt16 = 0x300  // NLM_F_ROOT | NLM_F_MATCH

    static let typeError: UInt16 = 2  // NLMSG_ERROR
    static let typeDone: UInt16 = 3  // NLMSG_DONE

    static let attributeNested: UInt16 = 0x8000  // NLA_F_NESTED
    static let attributeByteOrder: UInt16 = 0x4000  // NLA_F_NET_BYTEORDER
    static let attributeTypeMask: UInt16 = 0x3FFF

    static func align(_ n: Int) -> Int { (n + 3) & ~3 }
}

/// Builds one generic netlink message. Nests are opened and closed by offset, so a part that
/// turns out too big can be cut off again with `truncate(to:)`.
struct GenericNetlinkMessage {
    private(set) var bytes: [UInt8]

    init(family: UInt16, command: UInt8, version: UInt8, flags: UInt16, capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
        append32(0)  // length, set by `finished`
        append16(family)
        append16(flags)
        append32(0)  // sequence: the transport numbers its messages
        append32(0)  // port id: the kernel fills it in
        bytes.append(command)
        bytes.append(version)
        append16(0)
    }

    var count: Int { bytes.count }

    mutating func truncate(to count: Int) {
        bytes.removeSubrange(count...)
    }

    mutating func put(_ type: UInt16, _ payload: some Collection<UInt8>) {
        append16(UInt16(Netlink.attributeHeaderSize + payload.count))
        append16(type)
        bytes.append(contentsOf: payload)
        pad()
    }

    mutating func put(_ type: UInt16, secret: UnsafeRawBufferPointer) {
        append16(UInt16(Netlink.attributeHeaderSize + secret.count))
        append16(type)
        bytes.append(contentsOf: secret)
        pad()
    }

    mutating func putU8(_ type: UInt16, _ v: UInt8) { put(type, [v]) }
    mutating func putU16(_ type: UInt16, _ v: UInt16) { put(type, withUnsafeBytes(of: v.littleEndian, Array.init)) }
    mutating func putU32(_ type: UInt16, _ v: UInt32) { put(type, withUnsafeBytes(of: v.littleEndian, Array.init)) }
    mutating func putString(_ type: UInt16, _ s: String) { put(type, Array(s.utf8) + [0]) }

    /// Opens a nest of `type` (NLA_F_NESTED is added) and returns its offset for `endNest`.
    mutating func beginNest(_ type: UInt16) -> Int {
        let offset = bytes.count
        append16(0)
        append16(type | Netlink.attributeNested)
        return offset
    }

    mutating func endNest(_ offset: Int) {
        set16(at: offset, UInt16(bytes.count - offset))
    }

    /// The message with its length filled in.
    func finished() -> [UInt8] {
        var out = bytes
        let n = UInt32(out.count).littleEndian
        withUnsafeBytes(of: n) { for i in 0..<4 { out[i] = $0[i] } }
        return out
    }

    /// Zeroes the buffer (it may hold the private key).
    mutating func wipe() { WireGuard.wipe(&bytes) }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private mutating func append16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v.littleEndian))
        bytes.append(UInt8(truncatingIfNeeded: v.littleEndian >> 8))
    }

    private mutating func append32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func set16(at offset: Int, _ v: UInt16) {
        bytes[offset] = UInt8(truncatingIfNeeded: v.littleEndian)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: v.littleEndian >> 8)
    }
}

/// One attribute inside a received message: its type (flags stripped) and payload range.
struct NetlinkAttribute {
    var type: UInt16
    var isNested: Bool
    var payload: ArraySlice<UInt8>

    var u8: UInt8? { payload.count == 1 ? payload.first : nil }
    var u16: UInt16? { payload.count == 2 ? Self.load(payload, UInt16.self) : nil }
    var u32: UInt32? { payload.count == 4 ? Self.load(payload, UInt32.self) : nil }
    var u64: UInt64? { payload.count == 8 ? Self.load(payload, UInt64.self) : nil }
    var string: String { String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self) }

    static func load<T: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>, _: T.Type, at offset: Int = 0) -> T {
        var v = T.zero
        withUnsafeMutableBytes(of: &v) { dst in
            for i in 0..<MemoryLayout<T>.size { dst[i] = bytes[bytes.startIndex + offset + i] }
        }
        return T(littleEndian: v)
    }

    /// Splits `bytes` into attributes; nil when a length runs past the end.
    static func parse(_ bytes: ArraySlice<UInt8>) -> [NetlinkAttribute]? {
        var out: [NetlinkAttribute] = []
        var i = bytes.startIndex
        while bytes.endIndex - i >= Netlink.attributeHeaderSize {
            let len = Int(load(bytes, UInt16.self, at: i - bytes.startIndex))
            let rawType = load(bytes, UInt16.self, at: i - bytes.startIndex + 2)
            guard len >= Netlink.attributeHeaderSize, i + len <= bytes.endIndex else { return nil }
            out.append(
                NetlinkAttribute(
                    type: rawType & Netlink.attributeTypeMask, isNested: rawType & Netlink.attributeNested != 0,
                    payload: bytes[(i + Netlink.attributeHeaderSize)..<(i + len)]))
            i += Netlink.align(len)
        }
        return out
    }
}
