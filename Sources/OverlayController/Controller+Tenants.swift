import OverlayModel
import OverlayStore

/// Who an admin token acts for: its name, and its tenant or the operator.
public struct AdminPrincipal: Sendable, Equatable, CustomStringConvertible {
    public var token: String
    /// Nil for the operator.
    public var tenant: String?

    public init(token: String, tenant: String?) {
        self.token = token
        self.tenant = tenant
    }

    /// `operator` or `tenant NAME`.
    public var description: String { tenant.map { "tenant \($0)" } ?? "operator" }
}

/// Tenants. A tenant owns the networks it creates and sees nothing else but node names, regions
/// and roles: another tenant's network, workload, access peer or gateway route answers exactly as
/// an absent one. Names stay global (they become interface names, host names and DNS labels on
/// shared nodes), so creating a name another tenant took answers the same conflict whoever holds
/// it, without naming the holder.
extension Controller {
    /// The same controller acting for `tenant` (nil: the operator). Shares the store, the plan
    /// cache and the commit hook.
    public func scoped(to tenant: String?) -> Controller {
        Controller(store: store, planned: planned, onCommit: onCommit, tenant: tenant)
    }

    public var isOperator: Bool { tenant == nil }

    /// Refuses a command that only the operator may run (nodes, plans, tokens, apply).
    func requireOperator(_ what: String) throws {
        if let tenant {
            throw AccessDenied("\(what) is for the operator only: this token acts for tenant '\(tenant)'")
        }
    }

    /// Whether this controller may see the network `name`, which exists.
    func sees(network name: String, _ tx: Transaction) throws -> Bool {
        guard let tenant else { return true }
        return try tx.networkOwner(named: name) == tenant
    }

    /// The networks this controller may see: nil for all of them.
    func visibleNetworks(_ tx: Transaction) throws -> Set<String>? {
        guard let tenant else { return nil }
        return try tx.networkNames(owner: tenant)
    }

    /// A network this controller may see, nil when there is none of that name or it is another
    /// tenant's.
    func visibleNetwork(named name: String, _ tx: Transaction) throws -> Network? {
        guard let n = try tx.network(named: name), try sees(network: name, tx) else { return nil }
        return n
    }

    /// The owner of every network (for the operator's listings).
    public func networkOwners() throws -> [String: String] {
        try store.read { try $0.networkOwners() }
    }
}
