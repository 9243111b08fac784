import Foundation
import HTTPTypes
import OverlayModel

/// Decodes request bodies strictly: the body must be one JSON object of the expected shape, and
/// every key in it (at any depth) must be a field of the type. `JSONDecoder` alone ignores unknown
/// keys, so a misspelt optional field would silently do nothing.
enum StrictJSON {
    static func decode<T: Codable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try checkEncoding(bytes)
        let data = Data(bytes)
        let raw: Any
        do {
            raw = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw StrictJSONError(
                description: "malformed JSON body: \(bytes.isEmpty ? "the body is empty" : "it does not parse as JSON")"
            )
        }
        guard raw is [String: Any] else {
            throw StrictJSONError(description: "malformed JSON body: expected a JSON object")
        }
        // The parser keeps one of two equal keys silently; the sender may have meant the other.
        if let path = duplicateKey(bytes) {
            throw StrictJSONError(description: "duplicate field '\(Quote.bounded(path))' in the JSON body")
        }
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: data)
        } catch let e as DecodingError {
            throw StrictJSONError(description: describe(e))
        }
        // What the type knows, written back: any key of the input missing there is unknown.
        let known = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value), options: [])
        // Elements of one array share a type: one probe answers for all of them.
        var probed: [[Step]: Bool] = [:]
        var firstNull: [Step]?
        let found = unknownKey(raw, known, at: [], firstNull: &firstNull) { path in
            let shape = path.map { step -> Step in if case .index = step { .index(0) } else { step } }
            if let answer = probed[shape] { return answer }
            let answer = reads(T.self, raw, at: path)
            probed[shape] = answer
            return answer
        }
        if let path = found {
            throw StrictJSONError(description: "unknown field '\(Quote.bounded(describe(path)))' in the JSON body")
        }
        // No request field is nullable in docs/api.yaml: an optional field is left out, and a null
        // is more likely a sender's bug than a wish for the default.
        if let path = firstNull {
            throw StrictJSONError(
                description:
                    "invalid JSON body: field '\(Quote.bounded(describe(path)))' is null: give it a value or leave it out"
            )
        }
        return value
    }

    /// A request body must say it is JSON (and, if it names a charset, UTF-8): anything else is
    /// refused (415) rather than guessed at.
    static func checkContentType(_ value: String?) throws {
        let send = "send the body as application/json (UTF-8)"
        guard let value else {
            throw APIError(status: .unsupportedMediaType, message: "missing Content-Type: \(send)")
        }
        let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard parts.first == "application/json" else {
            throw APIError(
                status: .unsupportedMediaType, message: "unsupported Content-Type '\(Quote.bounded(value))': \(send)")
        }
        for p in parts.dropFirst() where p.hasPrefix("charset=") {
            let charset = p.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else {
                throw APIError(
                    status: .unsupportedMediaType, message: "unsupported charset '\(Quote.bounded(charset))': \(send)")
            }
        }
    }

    /// RFC 8259: JSON exchanged between systems is UTF-8, without a byte order mark. The parser
    /// would also take UTF-16 and UTF-32 and skip a BOM, so those are refused here.
    static func checkEncoding(_ bytes: [UInt8]) throws {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw StrictJSONError(
                description: "malformed JSON body: it starts with a byte order mark: send UTF-8 without one")
        }
        // Outside strings JSON allows only tab, LF and CR below 0x20, and inside strings none: a
        // NUL byte is UTF-16 or UTF-32 text.
        if bytes.contains(0) || bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            throw StrictJSONError(description: "malformed JSON body: it is UTF-16 or UTF-32 text: send UTF-8")
        }
        if String(validating: bytes, as: UTF8.self) == nil {
            throw StrictJSONError(description: "malformed JSON body: it is not valid UTF-8")
        }
    }

    enum Step: Hashable {
        case key(String)
        case index(Int)
    }

    static func describe(_ path: [Step]) -> String {
        var out = ""
        for step in path {
            switch step {
            case .key(let k): out += (out.isEmpty ? "" : ".") + k
            case .index(let i): out += "[\(i)]"
            }
        }
        return out
    }

    /// The first key path in `input` that `known` lacks. A key with a null value is not written
    /// back (nil optionals are omitted), so it counts as known when `readsNull` says the type reads
    /// it; the first known key with a null value goes to `firstNull`.
    static func unknownKey(
        _ input: Any, _ known: Any, at path: [Step], firstNull: inout [Step]?, readsNull: ([Step]) -> Bool
    ) -> [Step]? {
        if let i = input as? [String: Any] {
            let k = known as? [String: Any] ?? [:]
            for key in i.keys.sorted() {
                let p = path + [.key(key)]
                // A field decoded with a default is written back with it, where null was sent.
                if i[key] is NSNull, k[key] != nil || readsNull(p) {
                    if firstNull == nil { firstNull = p }
                    continue
                }
                guard let kv = k[key] else { return p }
                if let found = unknownKey(i[key]!, kv, at: p, firstNull: &firstNull, readsNull: readsNull) {
                    return found
                }
            }
        } else if let i = input as? [Any], let k = known as? [Any] {
            for (n, (a, b)) in zip(i, k).enumerated() {
                if let found = unknownKey(a, b, at: path + [.index(n)], firstNull: &firstNull, readsNull: readsNull) {
                    return found
                }
            }
        }
        return nil
    }

    /// Whether decoding `T` looks at the value at `path`: with a value there that no field type
    /// accepts (arrays nested deeper than any request has), decoding fails only if it reads it.
    static func reads<T: Decodable>(_ type: T.Type, _ raw: Any, at path: [Step]) -> Bool {
        let probe = replacing(raw, at: path[...], with: [[[[[[[[true]]]]]]]])
        guard let data = try? JSONSerialization.data(withJSONObject: probe) else { return true }
        return (try? JSONDecoder().decode(T.self, from: data)) == nil
    }

    static func replacing(_ value: Any, at path: ArraySlice<Step>, with new: Any) -> Any {
        guard let step = path.first else { return new }
        switch step {
        case .key(let k):
            guard var d = value as? [String: Any], let child = d[k] else { return value }
            d[k] = replacing(child, at: path.dropFirst(), with: new)
            return d
        case .index(let n):
            guard var a = value as? [Any], a.indices.contains(n) else { return value }
            a[n] = replacing(a[n], at: path.dropFirst(), with: new)
            return a
        }
    }

    /// The path of the first key that appears twice in one object of `bytes` (already parsed as
    /// JSON, so only its structure is followed here), compared after unescaping.
    static func duplicateKey(_ bytes: [UInt8]) -> String? {
        enum Frame {
            case object(keys: Set<String>, current: String?, expectingKey: Bool)
            case array(index: Int)
        }
        var stack: [Frame] = []
        func path() -> String {
            var out = ""
            for f in stack {
                switch f {
                case .object(_, let current?, _): out += (out.isEmpty ? "" : ".") + current
                case .array(let i): out += "[\(i)]"
                default: break
                }
            }
            return out
        }
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"): stack.append(.object(keys: [], current: nil, expectingKey: true))
            case UInt8(ascii: "["): stack.append(.array(index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): stack.removeLast()
            case UInt8(ascii: ","):
                switch stack.last {
                case .object(let keys, let current, _):
                    stack[stack.count - 1] = .object(keys: keys, current: current, expectingKey: true)
                case .array(let n): stack[stack.count - 1] = .array(index: n + 1)
                case nil: break
                }
            case UInt8(ascii: "\""):
                let start = i
                var escaped = false
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") || escaped {
                    escaped = !escaped && bytes[i] == UInt8(ascii: "\\")
                    i += 1
                }
                // Taken off the stack while it grows, so the set is not copied for each key.
                if case .object(_, _, true) = stack.last, case .object(var keys, _, _) = stack.removeLast() {
                    let rawKey = bytes[start...min(i, bytes.count - 1)]
                    let key =
                        rawKey.contains(UInt8(ascii: "\\"))
                        ? (try? JSONDecoder().decode(String.self, from: Data(rawKey)))
                            ?? String(decoding: rawKey, as: UTF8.self)
                        : String(decoding: rawKey.dropFirst().dropLast(), as: UTF8.self)
                    let (inserted, _) = keys.insert(key)
                    stack.append(.object(keys: keys, current: key, expectingKey: false))
                    if !inserted { return path() }
                }
            default: break
            }
            i += 1
        }
        return nil
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            var out = ""
            for k in keys {
                if let i = k.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + k.stringValue }
            }
            return out
        }
        switch e {
        case .typeMismatch(let type, let c):
            return "invalid JSON body: field '\(path(c.codingPath))' must be \(name(of: type))"
        case .valueNotFound(let type, let c):
            return "invalid JSON body: field '\(path(c.codingPath))' must be \(name(of: type)), not null"
        case .keyNotFound(let key, let c):
            return "invalid JSON body: missing field '\(path(c.codingPath + [key]))'"
        case .dataCorrupted(let c):
            let p = path(c.codingPath)
            return p.isEmpty ? "malformed JSON body" : "invalid JSON body: field '\(p)': \(c.debugDescription)"
        @unknown default:
            return "invalid JSON body"
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is UInt16.Type, is UInt64.Type, is Int32.Type: "an integer"
        case is Double.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}

/// A request body that is not exactly a JSON object of the expected type.
struct StrictJSONError: Error, CustomStringConvertible {
    var description: String
}
