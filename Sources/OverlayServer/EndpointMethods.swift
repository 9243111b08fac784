import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route answers, recorded as routes are added: the router alone answers 404 for
/// a known path asked with another method, where HTTP wants 405 with `Allow`.
final class EndpointMethods: Sendable {
    private let routes = Mutex<[(path: RouterPath, methods: Set<HTTPRequest.Method>)]>([])

    func record(_ path: RouterPath, _ method: HTTPRequest.Method) {
        routes.withLock { routes in
            if let i = routes.firstIndex(where: { $0.path == path }) {
                routes[i].methods.insert(method)
            } else {
                routes.append((path, [method]))
            }
        }
    }

    /// The methods of the routes matching `path`, in a fixed order; empty for an unknown path.
    func allowed(path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        let methods = routes.withLock { routes in
            routes.filter { route in
                route.path.components.count == segments.count
                    && zip(route.path.components, segments).allSatisfy { element, segment in element ~= segment }
            }.reduce(into: Set<HTTPRequest.Method>()) { $0.formUnion($1.methods) }
        }
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
        return order.filter(methods.contains) + methods.subtracting(order).sorted { $0.rawValue < $1.rawValue }
    }
}

/// Adds routes to `base` and records their methods in `table`.
struct RecordingRouter<Base: RouterMethods>: RouterMethods {
    typealias Context = Base.Context
    let base: Base
    let table: EndpointMethods

    @discardableResult func on<Responder: HTTPResponder>(
        _ path: RouterPath, method: HTTPRequest.Method, responder: Responder
    ) -> Self where Responder.Context == Context {
        table.record(path, method)
        base.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        base.add(middleware: middleware)
        return self
    }
}
