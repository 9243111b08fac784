import Foundation

/// Decodes request bodies strictly: the body must be one JSON object of the expected shape, and
/// every key in it (at any depth) must be a field of the type. `JSONDecoder` alone ignores unknown
/// keys, so a misspelt optional field would silently do nothing.
enum StrictJSON {
    static func decode<T: Codable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let data = Data(bytes)
        let raw: Any
        do {
            raw = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw StrictJSONError(
                description: "malformed JSON body: \(bytes.isEmpty ? "the body is empty" : "it does not parse as JSON")"
            )
        }
        guard raw is [String: Any] else { throw StrictJSONError(description: "malformed JSON body: expected a JSON object") }
        let value: T
        do {
            value = try JSONDecoder().decode(T.self, from: data)
        } catch let e as DecodingError {
            throw StrictJSONError(description: describe(e))
        }
        // What the type knows, written back: any key of the input missing there is unknown.
        let known = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(value), options: [])
        if let path = unknownKey(raw, known, path: "") {
            throw StrictJSONError(description: "unknown field '\(path)' in the JSON body")
        }
        return value
    }

    /// The first key path in `input` that `known` lacks (null values count as absent).
    static func unknownKey(_ input: Any, _ known: Any, path: String) -> String? {
        if let i = input as? [String: Any] {
            let k = known as? [String: Any] ?? [:]
            for key in i.keys.sorted() {
                let p = path.isEmpty ? key : path + "." + key
                guard let kv = k[key] else {
                    if i[key] is NSNull { continue }
                    return p
                }
                if let found = unknownKey(i[key]!, kv, path: p) { return found }
            }
        } else if let i = input as? [Any], let k = known as? [Any] {
            for (n, (a, b)) in zip(i, k).enumerated() {
                if let found = unknownKey(a, b, path: "\(path)[\(n)]") { return found }
            }
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
