import Netlink

/// A whole nftables table as this library owns it: replaced as one unit, never edited in place.
/// Only `inet` tables are modelled (one table filters both IPv4 and IPv6).
public struct NFTable: Hashable, Sendable {
    public var name: String
    public var chains: [NFTChain]
    public var sets: [NFTSet]

    public init(name: String, chains: [NFTChain] = [], sets: [NFTSet] = []) {
        self.name = name
        self.chains = chains
        self.sets = sets
    }

    public static let family = AddressFamily.nftInet
}

/// Netfilter hooks a base chain attaches to.
public struct NFTHook: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let prerouting = NFTHook(rawValue: 0)
    public static let input = NFTHook(rawValue: 1)
    public static let forward = NFTHook(rawValue: 2)
    public static let output = NFTHook(rawValue: 3)
    public static let postrouting = NFTHook(rawValue: 4)

    public var description: String {
        ["prerouting", "input", "forward", "output", "postrouting"][Int(rawValue)]
    }
}

/// A base chain's default verdict.
public struct NFTPolicy: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let drop = NFTPolicy(rawValue: 0)
    public static let accept = NFTPolicy(rawValue: 1)
}

/// A chain: a base chain when `hook` is set (`type filter hook input priority 0; policy drop;`),
/// otherwise a regular chain reached by `jump`.
public struct NFTChain: Hashable, Sendable {
    public struct Base: Hashable, Sendable {
        public var hook: NFTHook
        public var priority: Int32
        public var policy: NFTPolicy
        /// `filter`, or `nat` for the egress masquerade (`route` exists in the kernel too).
        public var type: String

        public init(hook: NFTHook, priority: Int32 = 0, policy: NFTPolicy = .accept, type: String = "filter") {
            self.hook = hook
            self.priority = priority
            self.policy = policy
            self.type = type
        }
    }

    public var name: String
    public var base: Base?
    public var rules: [NFTRule]

    public init(name: String, base: Base? = nil, rules: [NFTRule] = []) {
        self.name = name
        self.base = base
        self.rules = rules
    }

    public static func base(
        _ name: String, hook: NFTHook, priority: Int32 = 0, policy: NFTPolicy, type: String = "filter",
        rules: [NFTRule]
    ) -> NFTChain {
        NFTChain(name: name, base: Base(hook: hook, priority: priority, policy: policy, type: type), rules: rules)
    }
}

/// A rule: all matches must hold; then the optional counter and the verdict.
/// `comment` is stored as userdata, where `nft list` shows it.
public struct NFTRule: Hashable, Sendable {
    public var matches: [NFTMatch]
    public var counter: Bool
    public var verdict: NFTVerdict?
    public var comment: String?

    public init(_ matches: [NFTMatch] = [], counter: Bool = false, _ verdict: NFTVerdict? = nil, comment: String? = nil)
    {
        self.matches = matches
        self.counter = counter
        self.verdict = verdict
        self.comment = comment
    }
}

/// What a rule finally does.
public enum NFTVerdict: Hashable, Sendable {
    case accept
    case drop
    case jump(String)
    case `return`
    /// `masquerade`: source NAT to the output interface's address (a `nat` chain's terminal
    /// statement; the kernel compiles it to its own expression, not a verdict code).
    case masquerade
    /// `notrack`: no conntrack for the packet (a `raw`-priority chain's statement; the chain goes
    /// on to its next rule).
    case notrack

    /// The kernel's verdict code (NF_ACCEPT, NFT_JUMP...).
    var code: Int32 {
        switch self {
        case .drop: 0
        case .accept, .masquerade, .notrack: 1
        case .jump: -3
        case .return: -5
        }
    }
}
