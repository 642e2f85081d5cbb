import Foundation
import HandoffSupport

/// Reads typed values out of a `ConfigNode` map, checking types, ranges and units, and reports
/// any field it was not asked for as unknown (with the closest known name).
public struct ConfigReader {
    public let node: ConfigNode
    public let path: String

    public init(_ node: ConfigNode, path: String = "") {
        self.node = node
        self.path = path
    }

    func fieldPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

    func error(_ n: ConfigNode, _ key: String, _ message: String) -> HandoffError {
        .input(message, file: n.origin, line: n.line, column: n.column, field: fieldPath(key))
    }

    public func error(_ message: String, key: String? = nil) -> HandoffError {
        let n = key.flatMap { node[$0] } ?? node
        return .input(
            message, file: n.origin, line: n.line, column: n.column,
            field: key.map(fieldPath) ?? (path.isEmpty ? nil : path))
    }

    public func has(_ key: String) -> Bool { node[key] != nil }

    /// `value` (the string of field `key`) as a path relative to `baseDir`; an error at the field's
    /// line when nothing is there, so a missing file is reported where the scenario names it.
    public func existingPath(_ key: String, _ value: String, baseDir: String) throws -> String {
        guard !value.isEmpty else { throw error("is empty; expected the path of a file", key: key) }
        let p = value.hasPrefix("/") ? value : baseDir + "/" + value
        guard FileManager.default.fileExists(atPath: p) else {
            // Vidur's trace is built from a Vidur checkout, never shipped: say how to make it.
            let hint =
                p.contains("vidur-arxiv-")
                ? " (it is built from a Vidur checkout: scripts/vidur-compare VIDUR_CHECKOUT; docs/vidur.md)" : ""
            throw error("no such file: \(p)\(hint)", key: key)
        }
        return p
    }

    func take(_ key: String) -> ConfigNode? {
        node.asked.insert(key)
        guard let n = node[key] else { return nil }
        n.used = true
        return n
    }

    /// What the name of a field says its unit is.
    static func unit(of key: String) -> String? {
        let units: [(String, String)] = [
            ("_ms", "milliseconds"), ("_s", "seconds"), ("_gbps", "gigabits per second"),
            ("_rps", "requests per second"), ("_gib", "GiB"), ("_tokens", "tokens"),
            ("_b", "billions"), ("_tflops", "TFLOPS"), ("_gb_s", "GB/s")
        ]
        if key.hasPrefix("usd_per_") { return "US dollars" }
        return units.first(where: { key.hasSuffix($0.0) })?.1
    }

    func scalar(_ key: String, _ n: ConfigNode, expected: String) throws -> String {
        guard let s = n.scalar else {
            throw error(n, key, "expected \(expected), got a \(n.isMap ? "section" : "list")")
        }
        return s
    }

    func numberError(_ key: String, _ n: ConfigNode, _ s: String, expected: String) -> HandoffError {
        let leading = s.prefix(while: { $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" || $0 == "e" })
        if !leading.isEmpty, Double(leading) != nil, leading.count < s.count {
            let unit =
                ConfigReader.unit(of: (fieldPath(key).split(separator: ".").last.map(String.init)) ?? key)
                ?? ConfigReader.unit(of: path.split(separator: ".").last.map(String.init) ?? "")
            let hint =
                unit.map {
                    "the unit is in the field name (\($0)): write \(leading) converted to \($0), without a unit"
                }
                ?? "write a plain number, without a unit"
            return error(n, key, "'\(s)' has a unit; \(hint)")
        }
        return error(n, key, "expected \(expected), got '\(s)'")
    }

    /// The largest magnitude a number field accepts.
    public static let magnitude = 1e15
    /// The smallest nonzero magnitude a number field accepts: below it, quotients overflow.
    public static let resolution = 1e-9

    public func optionalDouble(
        _ key: String, min: Double? = nil, max: Double? = nil, exclusiveMin: Bool = false
    ) throws -> Double? {
        guard let n = take(key) else { return nil }
        let s = try scalar(key, n, expected: "a number")
        guard let v = Double(s.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw numberError(key, n, s, expected: "a number")
        }
        // No physical quantity of a scenario comes near 1e15 in its unit; bounding them keeps every
        // product the simulator forms (bytes × tokens / bandwidth, price × GPUs × hours) finite.
        guard abs(v) <= ConfigReader.magnitude, v == 0 || abs(v) >= ConfigReader.resolution else {
            throw error(n, key, "\(s) is out of range; expected 0 or a number of magnitude 1e-9 … 1e15")
        }
        if let min, exclusiveMin ? v <= min : v < min {
            throw error(
                n, key, "\(s) is out of range; expected a number \(exclusiveMin ? ">" : "≥") \(JSONWriter.number(min))")
        }
        if let max, v > max {
            throw error(n, key, "\(s) is out of range; expected a number ≤ \(JSONWriter.number(max))")
        }
        return v
    }

    /// A list of numbers (empty when absent), e.g. `[6.9, 27.5, 34.4]`.
    public func doubleList(_ key: String, min: Double? = nil) throws -> [Double] {
        guard let n = take(key) else { return [] }
        guard case .list = n.kind else { throw error(n, key, "expected a list of numbers, e.g. [1.5, 2.5]") }
        return try n.items.enumerated().map { k, item in
            guard let s = item.scalar, let v = Double(s), v.isFinite else {
                throw error(item, "\(key)[\(k)]", "expected a number")
            }
            if let min, v < min {
                throw error(item, "\(key)[\(k)]", "\(s) is out of range; expected a number ≥ \(JSONWriter.number(min))")
            }
            return v
        }
    }

    public func double(
        _ key: String, default d: Double? = nil, min: Double? = nil, max: Double? = nil, exclusiveMin: Bool = false
    ) throws -> Double {
        if let v = try optionalDouble(key, min: min, max: max, exclusiveMin: exclusiveMin) { return v }
        guard let d else { throw missing(key) }
        return d
    }

    public func optionalInt(_ key: String, min: Int? = nil, max: Int? = nil) throws -> Int? {
        guard let n = take(key) else { return nil }
        let s = try scalar(key, n, expected: "an integer")
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")) else {
            if let d = Double(s), d == d.rounded(), abs(d) < 1e15 { return try check(Int(d), key, n, min, max) }
            throw numberError(key, n, s, expected: "an integer")
        }
        return try check(v, key, n, min, max)
    }

    func check(_ v: Int, _ key: String, _ n: ConfigNode, _ min: Int?, _ max: Int?) throws -> Int {
        if let min, v < min { throw error(n, key, "\(v) is out of range; expected an integer ≥ \(min)") }
        if let max, v > max { throw error(n, key, "\(v) is out of range; expected an integer ≤ \(max)") }
        return v
    }

    public func int(_ key: String, default d: Int? = nil, min: Int? = nil, max: Int? = nil) throws -> Int {
        if let v = try optionalInt(key, min: min, max: max) { return v }
        guard let d else { throw missing(key) }
        return d
    }

    public func optionalString(_ key: String, oneOf: [String]? = nil) throws -> String? {
        guard let n = take(key) else { return nil }
        let s = try scalar(key, n, expected: "a string")
        if let oneOf, !oneOf.contains(s) {
            throw error(n, key, "'\(s)' is not one of \(oneOf.joined(separator: ", "))")
        }
        return s
    }

    public func string(_ key: String, default d: String? = nil, oneOf: [String]? = nil) throws -> String {
        if let v = try optionalString(key, oneOf: oneOf) { return v }
        guard let d else { throw missing(key) }
        return d
    }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard let n = take(key) else { return d }
        let s = try scalar(key, n, expected: "true or false")
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(n, key, "expected true or false, got '\(s)'")
        }
    }

    /// A required field is absent: the error names it, and a present key it is close to (a typo).
    public func missing(_ key: String) -> HandoffError {
        let unread = node.entries.filter { !$0.value.used }.map(\.key)
        let hint = ConfigReader.closest(key, in: unread).map { "; found '\($0)': a typo?" } ?? ""
        return error("missing required field\(hint)", key: nil).with(field: fieldPath(key))
    }

    /// A sub-section, or nil when absent.
    public func section(_ key: String) throws -> ConfigReader? {
        guard let n = take(key) else { return nil }
        guard n.isMap else { throw error(n, key, "expected a section (a mapping of fields)") }
        return ConfigReader(n, path: fieldPath(key))
    }

    /// The raw node of a field (marked as read).
    public func raw(_ key: String) -> ConfigNode? { take(key) }

    /// The keys of this section, in order.
    public var keys: [String] { node.entries.map { $0.key } }

    /// Fails on the first field no reader asked for.
    public func finish(known extra: [String] = []) throws {
        for (k, v) in node.entries where !v.used && !extra.contains(k) {
            let known = node.asked.union(extra).union(node.entries.filter { $0.value.used }.map { $0.key }).sorted()
            let hint = ConfigReader.closest(k, in: known).map { "; did you mean '\($0)'?" } ?? ""
            throw error(v, k, "unknown field\(hint)")
        }
    }

    /// " (did you mean 'A' or 'B'?)" for a misspelt or shortened catalogue name: the names that
    /// contain it (ignoring case; at most three), else the closest by edit distance; "" for none.
    public static func didYouMean(_ s: String, in words: [String]) -> String {
        let low = s.lowercased()
        let containing = low.isEmpty ? [] : words.filter { $0.lowercased().contains(low) }.sorted()
        let picks = containing.isEmpty ? closest(s, in: words).map { [$0] } ?? [] : Array(containing.prefix(3))
        guard !picks.isEmpty else { return "" }
        return " (did you mean " + picks.map { "'\($0)'" }.joined(separator: " or ") + "?)"
    }

    package static func closest(_ s: String, in words: [String]) -> String? {
        func dist(_ a: [Character], _ b: [Character]) -> Int {
            var prev = Array(0...b.count)
            for i in 1...max(1, a.count) where !a.isEmpty {
                var cur = [i] + Array(repeating: 0, count: b.count)
                for j in 1...max(1, b.count) where !b.isEmpty {
                    cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                prev = cur
            }
            return prev[b.count]
        }
        let best = words.map { ($0, dist(Array(s), Array($0))) }.min(by: { $0.1 < $1.1 })
        guard let best, best.1 <= max(2, s.count / 3) else { return nil }
        return best.0
    }
}

extension HandoffError {
    public func with(field: String) -> HandoffError {
        var e = self
        e.field = field
        return e
    }
}
