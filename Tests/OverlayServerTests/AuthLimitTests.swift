import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The server's answer to repeated failed authentications (the limiter's policy itself is in
/// AuthFailureLimiterTests). In-process requests all come from one source.
@Suite struct AuthLimitTests {
    @Test func repeatedWrongTokensGet429WithRetryAfterAndAreCounted() async throws {
        let h = try Harness()
        let before = try h.store.dump()
        try await h.test { client in
            var statuses: [HTTPResponse.Status] = []
            var retryAfter: String?
            for i in 0..<40 {
                let r = try await client.execute(
                    uri: "/v1/networks", method: .get,
                    headers: [.authorization: "Bearer ovla_wrong\(i)"])
                statuses.append(r.status)
                if r.status == .tooManyRequests { retryAfter = r.headers[.retryAfter] }
            }
            // The default budget: 20 failures, then 429 for the rest of the burst.
            #expect(statuses.prefix(20).allSatisfy { $0 == .unauthorized }, "\(statuses)")
            #expect(statuses.dropFirst(20).allSatisfy { $0 == .tooManyRequests }, "\(statuses)")
            #expect(retryAfter.flatMap(Int.init).map { (1...5).contains($0) } == true, "\(retryAfter ?? "none")")
            // Health and metrics are not behind authentication and stay open.
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(m.status == .ok)
            #expect(m.text.contains("overlay_auth_failures_total 20"), "\(m.text)")
            #expect(m.text.contains("overlay_auth_refused_total 20"), "\(m.text)")
        }
        #expect(try h.store.dump() == before)
    }

    @Test func goodRequestsTakeNothingFromTheBudget() async throws {
        let h = try Harness()
        try await h.test { client in
            for _ in 0..<50 {
                let r = try await client.execute(
                    uri: "/v1/networks", method: .get, headers: [.authorization: "Bearer \(h.token)"])
                #expect(r.status == .ok)
            }
            let m = try await client.execute(uri: "/metrics", method: .get)
            #expect(m.text.contains("overlay_auth_failures_total 0"), "\(m.text)")
        }
    }
}
