import Testing

@testable import OverlayModel

/// A refusal quotes the bad value, but never more than a bounded prefix of it.
@Suite("Quoting values in messages")
struct QuoteTests {
    @Test("short values are quoted whole", arguments: ["", "web", String(repeating: "x", count: 64)])
    func short(value: String) {
        #expect(Quote.bounded(value) == value)
    }

    @Test("long values: the first 64 characters, then the size in bytes")
    func long() {
        let value = String(repeating: "a", count: 1 << 20)
        #expect(Quote.bounded(value) == String(repeating: "a", count: 64) + "… (1048576 bytes)")
        // Cut on Unicode scalars: one grapheme of a million combining marks is cut too.
        let marks = "e" + String(repeating: "\u{301}", count: 100_000)
        let quoted = Quote.bounded(marks)
        #expect(quoted.unicodeScalars.count < 100)
        #expect(quoted.hasSuffix("… (\(marks.utf8.count) bytes)"))
    }

    @Test("every error that quotes a value bounds it")
    func errors() {
        let huge = String(repeating: "N", count: 1 << 20)
        #expect(Names.messageOfLabel(huge).utf8.count < 300)
        #expect(NotFoundError("network", huge).description.utf8.count < 300)
        #expect(ValidationError("prefix", huge, allowed: "a /48").description.utf8.count < 300)
    }
}

extension Names {
    /// The message a refused label gets.
    static func messageOfLabel(_ value: String) -> String {
        do {
            _ = try label(value, field: "network name")
            return ""
        } catch { return "\(error)" }
    }
}
