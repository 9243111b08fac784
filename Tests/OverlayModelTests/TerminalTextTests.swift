import OverlayModel
import Testing

@Suite struct TerminalTextTests {
    @Test func plainTextIsUnchanged() {
        #expect(TerminalText.safe("wg-1a2b3c4d handshake 12s") == "wg-1a2b3c4d handshake 12s")
        #expect(TerminalText.safe("réseau-ü") == "réseau-ü")
    }

    @Test func controlSequencesAreShownNotObeyed() {
        // A colour change, a forged second line, an OSC 8 hyperlink and a terminal title.
        #expect(TerminalText.safe("\u{1b}[31mred") == "\\u{1b}[31mred")
        #expect(TerminalText.safe("ok\nerrors: -") == "ok\\u{a}errors: -")
        #expect(TerminalText.safe("\u{1b}]8;;http://x\u{7}y") == "\\u{1b}]8;;http://x\\u{7}y")
        #expect(TerminalText.safe("a\rb\u{7f}c\u{9b}d") == "a\\u{d}b\\u{7f}c\\u{9b}d")
        #expect(TerminalText.safe("abc\u{202e}def") == "abc\\u{202e}def")
    }

    @Test func aBackslashIsEscapedSoEscapesCannotBeFaked() {
        #expect(TerminalText.safe("\\u{1b}") == "\\u{5c}u{1b}")
    }
}
