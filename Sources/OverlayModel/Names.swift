/// Validation of the names people type: every one is checked before anything is stored.
public enum Names {
    /// An RFC 1123 label, lowercase: 1-63 of [a-z0-9-], not starting or ending with '-'.
    public static func label(_ value: String, field: String) throws -> String {
        let allowed = "1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
        guard (1...63).contains(value.utf8.count),
            value.utf8.allSatisfy({ isLower($0) || isDigit($0) || $0 == UInt8(ascii: "-") }),
            value.utf8.first != UInt8(ascii: "-"), value.utf8.last != UInt8(ascii: "-")
        else { throw ValidationError(field, value, allowed: allowed) }
        return value
    }

    /// A DNS name of labels (RFC 1123), at most 253 characters, compared case-insensitively:
    /// returned lowercased. At least two labels; no trailing dot; no wildcard.
    public static func fqdn(_ value: String, field: String) throws -> String {
        let lower = value.lowercased()
        let allowed = "a DNS name of at least two dot-separated labels (a-z, 0-9, '-'), at most 253 characters"
        let labels = lower.split(separator: ".", omittingEmptySubsequences: false)
        guard lower.utf8.count <= 253, labels.count >= 2 else { throw ValidationError(field, value, allowed: allowed) }
        for l in labels {
            do { _ = try label(String(l), field: field) } catch {
                throw ValidationError(field, value, allowed: allowed)
            }
        }
        // The top-level label of a real domain is never all digits (it would read as an IPv4 address).
        if labels.last!.utf8.allSatisfy(isDigit) { throw ValidationError(field, value, allowed: allowed) }
        return lower
    }

    /// A network namespace name: what `ip netns` accepts as a file name under /run/netns.
    public static func netns(_ value: String, field: String = "namespace") throws -> String {
        let ok =
            (1...64).contains(value.utf8.count) && value != "." && value != ".."
            && value.utf8.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || "-_.".utf8.contains($0) })
            && value.utf8.first != UInt8(ascii: "-")
        guard ok else {
            throw ValidationError(field, value, allowed: "1-64 characters of letters, digits, '-', '_' and '.'")
        }
        return value
    }

    /// A Linux interface name: 1-15 characters of letters, digits, '-', '_' and '.'.
    public static func interface(_ value: String, field: String) throws -> String {
        guard (1...15).contains(value.utf8.count), value != ".", value != "..",
            value.utf8.allSatisfy({ isLower($0) || isUpper($0) || isDigit($0) || "-_.".utf8.contains($0) })
        else { throw ValidationError(field, value, allowed: "1-15 characters of letters, digits, '-', '_' and '.'") }
        return value
    }

    /// A free-form tag such as a region: 1-32 characters of [a-z0-9-_].
    public static func tag(_ value: String, field: String) throws -> String {
        guard (1...32).contains(value.utf8.count),
            value.utf8.allSatisfy({ isLower($0) || isDigit($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") })
        else { throw ValidationError(field, value, allowed: "1-32 characters of a-z, 0-9, '-' and '_'") }
        return value
    }

    private static func isLower(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
    private static func isUpper(_ c: UInt8) -> Bool { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
