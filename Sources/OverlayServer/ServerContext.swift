import Hummingbird
import NIOCore
import OverlayController

/// The context of every request: Hummingbird's, plus the address of the peer, which the limits on
/// failed authentications are kept by.
public struct ServerContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Whom the request's admin token acts for; set by the admin authentication, nil elsewhere.
    public var principal: AdminPrincipal?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The peer's IP address, the key of its failure budget ("unknown" without one: in-process
    /// tests).
    var sourceAddress: String { remoteAddress?.ipAddress ?? "unknown" }
}
