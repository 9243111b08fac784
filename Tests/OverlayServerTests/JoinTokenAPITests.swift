import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OverlayAPI
import Testing

/// `GET /v1/join-tokens`, `GET /v1/nodes/{name}/join-tokens` and `DELETE /v1/join-tokens/{id}`.
@Suite struct JoinTokenAPITests {
    @Test func listAndRevokeOverTheAPI() async throws {
        let h = try Harness()
        try h.controller.addNode(.init(name: "n1"))
        try h.controller.addNode(.init(name: "n2"))
        try await h.test { client in
            let auth: HTTPFields = [.authorization: "Bearer \(h.token)", .contentType: "application/json"]
            var made: [JoinTokenView] = []
            for node in ["n1", "n2"] {
                let r = try await client.execute(
                    uri: "/v1/nodes/\(node)/join-tokens", method: .post, headers: auth, body: buffer("{}"))
                #expect(r.status == .created, "\(r.text)")
                made.append(try JSONDecoder().decode(JoinTokenView.self, from: Data(buffer: r.body)))
            }
            var r = try await client.execute(uri: "/v1/join-tokens", method: .get, headers: auth)
            let all = try JSONDecoder().decode([JoinTokenInfoView].self, from: Data(buffer: r.body))
            #expect(Set(all.map(\.id)) == Set(made.map(\.id)))
            // The list never carries a token.
            #expect(!made.contains { r.text.contains($0.token) })
            r = try await client.execute(uri: "/v1/nodes/n2/join-tokens", method: .get, headers: auth)
            #expect(
                try JSONDecoder().decode([JoinTokenInfoView].self, from: Data(buffer: r.body)).map(\.node) == ["n2"])
            r = try await client.execute(uri: "/v1/nodes/ghost/join-tokens", method: .get, headers: auth)
            #expect(r.status == .notFound)

            r = try await client.execute(uri: "/v1/join-tokens/\(made[0].id)", method: .delete, headers: auth)
            #expect(r.status == .ok, "\(r.text)")
            r = try await client.execute(uri: "/v1/join-tokens/\(made[0].id)", method: .delete, headers: auth)
            #expect(r.status == .notFound, "\(r.text)")
            r = try await client.execute(uri: "/v1/join-tokens/zz", method: .delete, headers: auth)
            #expect(r.status == .badRequest, "\(r.text)")
            r = try await client.execute(uri: "/v1/join-tokens", method: .get, headers: auth)
            #expect(
                try JSONDecoder().decode([JoinTokenInfoView].self, from: Data(buffer: r.body)).map(\.id) == [made[1].id]
            )
            // Without a token: nothing.
            r = try await client.execute(uri: "/v1/join-tokens", method: .get)
            #expect(r.status == .unauthorized)
        }
    }
}
