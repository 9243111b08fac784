import Foundation
import Hummingbird
import NIOCore
import OverlayAPI
import OverlayController
import OverlayModel
import OverlayPlanner
import OverlayStore

/// An answer refused by the server itself (authentication, query parameters, body size).
struct APIError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    var description: String { message }

    static func unauthorized(_ m: String) -> APIError { APIError(status: .unauthorized, message: m) }
    static func forbidden(_ m: String) -> APIError { APIError(status: .forbidden, message: m) }
    static func badRequest(_ m: String) -> APIError { APIError(status: .badRequest, message: m) }
}

/// Turns every error into `{"error": "..."}` with its status: bad input 400, unknown names 404,
/// conflicts and refused topologies 409, authentication 401/403, wrong method 405 (with `Allow`),
/// too large 413, not JSON 415, the database unreachable 503. The message is what `overlayctl` prints for the same command in
/// local mode. `RequestPipeline` answers with it for every request.
struct ErrorAnswers: Sendable {
    let endpoints: EndpointMethods

    func response(for error: any Error, _ request: Request, _ context: ServerContext) -> Response {
        if let e = error as? HTTPError, e.status == .notFound {
            let allow = endpoints.allowed(path: request.uri.path)
            guard !allow.isEmpty else {
                return JSONResponse.make(ErrorBody(error: Self.classify(e).1), status: .notFound)
            }
            let names = allow.map(\.rawValue)
            var response = JSONResponse.make(
                ErrorBody(
                    error:
                        "method \(Quote.bounded(request.method.rawValue)) is not allowed on \(Quote.bounded(request.uri.path)): use \(names.joined(separator: " or "))"
                ), status: .methodNotAllowed)
            response.headers[.allow] = names.joined(separator: ", ")
            return response
        }
        let (status, message) = Self.classify(error)
        if status == .internalServerError {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
        }
        return JSONResponse.make(ErrorBody(error: message), status: status)
    }

    static func classify(_ error: any Error) -> (HTTPResponse.Status, String) {
        switch error {
        case let e as APIError: return (e.status, e.message)
        case let e as StrictJSONError: return (.badRequest, e.description)
        case let e as ValidationError: return (.badRequest, e.description)
        case let e as NotFoundError: return (.notFound, e.description)
        case let e as ConflictError: return (.conflict, e.description)
        case let e as AccessDenied: return (.forbidden, e.description)
        // The planner refuses a topology it cannot build (hidden members without a hub): the
        // command is well-formed but conflicts with what the network holds.
        case let e as TopologyError: return (.conflict, e.description)
        // The shared database is down or restarting: nothing was changed, the request may be
        // repeated (a replica keeps serving its agents' long-polls meanwhile).
        case let e as StoreUnavailableError: return (.serviceUnavailable, e.description)
        case let e as StoreBusyError: return (.serviceUnavailable, e.description)
        case is NIOTooManyBytesError:
            return (.contentTooLarge, "request body too large (at most \(AdminPaths.maxBody) bytes)")
        case let e as HTTPError:
            switch e.status {
            case .contentTooLarge: return (e.status, "request body too large (at most \(AdminPaths.maxBody) bytes)")
            case .notFound: return (e.status, "no such endpoint (see docs/api.yaml)")
            case .methodNotAllowed: return (e.status, "method not allowed on this endpoint (see docs/api.yaml)")
            default: return (e.status, e.body ?? e.status.reasonPhrase)
            }
        default: return (.internalServerError, "internal error: \(error)")
        }
    }
}

enum JSONResponse {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = (try? encoder.encode(value)) ?? Data("{\"error\":\"cannot encode the answer\"}".utf8)
        return bytesResponse(Array(bytes), status: status)
    }

    static func bytesResponse(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
