/// Text that came from elsewhere (an agent's report, a stored name) made safe to print on a
/// terminal: control characters — ESC, which starts colour, cursor and OSC sequences, CR and LF,
/// which can forge lines, and the rest of C0, DEL and C1 — are shown as `\u{..}` escapes, and
/// so is a backslash, so an escape in the output always means one in the text.
public enum TerminalText {
    public static func safe(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || (0x7f...0x9f).contains(s.value) || s == "\\"
            // Bidirectional overrides and isolates reorder what follows them on screen.
            || (0x202a...0x202e).contains(s.value) || (0x2066...0x2069).contains(s.value)
    }
}
