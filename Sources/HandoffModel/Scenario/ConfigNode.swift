import HandoffSupport
import Yams

/// A YAML document as a mutable tree that remembers where each value came from (file, line,
/// column, or the `--set` that put it there), so every error can point at its source.
public final class ConfigNode: @unchecked Sendable {
    public enum Kind {
        case scalar(String)
        case map, list
    }
    public var kind: Kind
    public var entries: [(key: String, value: ConfigNode)] = []
    public var items: [ConfigNode] = []
    public var origin: String
    public var line: Int?
    public var column: Int?
    /// Set when a reader consumed this entry; unread entries are reported as unknown fields.
    var used = false
    /// The field names readers asked this map for, present or not: what "did you mean" offers.
    var asked: Set<String> = []

    init(kind: Kind, origin: String, line: Int?, column: Int?) {
        self.kind = kind
        self.origin = origin
        self.line = line
        self.column = column
    }

    public var scalar: String? {
        if case .scalar(let s) = kind { return s }
        return nil
    }
    public var isMap: Bool {
        if case .map = kind { return true }
        return false
    }

    public subscript(key: String) -> ConfigNode? { entries.first(where: { $0.key == key })?.value }

    /// The node at a dotted field path (`policy.beam_width`), or nil.
    public func node(at path: String) -> ConfigNode? {
        var cur: ConfigNode? = self
        for part in path.split(separator: ".") {
            guard let c = cur else { return nil }
            if case .list = c.kind, let i = Int(part) {
                cur = i >= 0 && i < c.items.count ? c.items[i] : nil
            } else {
                cur = c[String(part)]
            }
        }
        return cur
    }

    /// `e` located in this scenario when it names a field but no file: the field's file and line,
    /// or at least the scenario's file.
    public func locate(_ e: HandoffError) -> HandoffError {
        guard e.file == nil, e.exitCode == 2 else { return e }
        var e = e
        if let f = e.field, let n = node(at: f) {
            e.file = n.origin
            e.line = n.line
            e.column = n.column
        } else {
            e.file = origin
        }
        return e
    }

    /// Parses YAML text. `origin` names the source in errors.
    public static func parse(yaml: String, origin: String) throws -> ConfigNode {
        try YAMLPrescan.check(yaml, origin: origin)
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch let e as YamlError {
            var line: Int? = nil
            var col: Int? = nil
            var problem = "\(e)"
            switch e {
            case .scanner(_, let p, let m, _), .parser(_, let p, let m, _), .composer(_, let p, let m, _):
                line = m.line
                col = m.column
                problem = p
            case .duplicatedKeysInMapping(let d, let ctx):
                line = ctx.mark.line
                col = ctx.mark.column
                problem = "duplicate key \(d.joined(separator: ", "))"
            default: break
            }
            // A tab in the indentation is the commonest cause of a scanner error: say so.
            let text = line.flatMap { l in
                l > 0 ? yaml.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(l - 1).first : nil
            }
            let tab =
                text.map { $0.contains("\t") } ?? false
                ? " (this line holds a tab: YAML indents with spaces only; replace the tab with spaces)" : ""
            throw HandoffError.input("malformed YAML: \(problem)\(tab)", file: origin, line: line, column: col)
        }
        guard let node else { return ConfigNode(kind: .map, origin: origin, line: 1, column: 1) }
        return try convert(node, origin: origin)
    }

    static func convert(_ n: Node, origin: String) throws -> ConfigNode {
        let line = n.mark?.line
        let col = n.mark?.column
        switch n {
        case .scalar(let s):
            return ConfigNode(kind: .scalar(s.string), origin: origin, line: line, column: col)
        case .mapping(let m):
            let c = ConfigNode(kind: .map, origin: origin, line: line, column: col)
            for (k, v) in m {
                guard case .scalar(let ks) = k else {
                    throw HandoffError.input(
                        "mapping keys must be plain names", file: origin, line: k.mark?.line, column: k.mark?.column)
                }
                if c[ks.string] != nil {
                    throw HandoffError.input(
                        "key given twice", file: origin, line: k.mark?.line, column: k.mark?.column, field: ks.string)
                }
                let child = try convert(v, origin: origin)
                if child.line == nil {
                    child.line = k.mark?.line
                    child.column = k.mark?.column
                }
                c.entries.append((ks.string, child))
            }
            return c
        case .sequence(let s):
            let c = ConfigNode(kind: .list, origin: origin, line: line, column: col)
            c.items = try s.map { try convert($0, origin: origin) }
            return c
        case .alias:
            throw HandoffError.input(
                "YAML aliases are not supported in scenarios", file: origin, line: line, column: col)
        }
    }

    /// Applies `path.to.field=value` (value in YAML syntax), creating maps on the way.
    public func apply(override: String) throws {
        guard let eq = override.firstIndex(of: "=") else {
            throw HandoffError.input("expected path.to.field=value", field: "--set \(override)")
        }
        let path = String(override[..<eq])
        let raw = String(override[override.index(after: eq)...])
        let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else {
            throw HandoffError.input("'\(path)' is not a field path (names joined by dots)", field: "--set \(override)")
        }
        let origin = "--set \(override)"
        let value = try ConfigNode.parse(yaml: raw.isEmpty ? "''" : raw, origin: origin)
        value.relabel(origin: origin)
        var node = self
        for (k, part) in parts.enumerated() {
            let last = k == parts.count - 1
            if case .list = node.kind, let idx = Int(part) {
                guard idx >= 0 && idx < node.items.count else {
                    throw HandoffError.input(
                        "index \(idx) is out of range (the list has \(node.items.count) items)", field: origin)
                }
                if last {
                    node.items[idx] = value
                    return
                }
                node = node.items[idx]
                continue
            }
            guard node.isMap else {
                throw HandoffError.input(
                    "'\(parts[..<k].joined(separator: "."))' is a value, not a section", field: origin)
            }
            if last {
                if let i = node.entries.firstIndex(where: { $0.key == part }) {
                    node.entries[i].value = value
                } else {
                    node.entries.append((part, value))
                }
                return
            }
            if let child = node[part] {
                node = child
            } else {
                let child = ConfigNode(kind: .map, origin: origin, line: nil, column: nil)
                node.entries.append((part, child))
                node = child
            }
        }
    }

    func relabel(origin: String) {
        self.origin = origin
        line = nil
        column = nil
        entries.forEach { $0.value.relabel(origin: origin) }
        items.forEach { $0.relabel(origin: origin) }
    }

    /// The tree as JSON, for reports (scalars stay strings unless they read as numbers/booleans).
    public var json: JSONValue {
        switch kind {
        case .scalar(let s):
            if let d = Double(s), !s.isEmpty { return .number(d) }
            if s == "true" { return .bool(true) }
            if s == "false" { return .bool(false) }
            if s == "null" || s == "~" { return .null }
            return .string(s)
        case .map: return .object(entries.map { ($0.key, $0.value.json) })
        case .list: return .array(items.map { $0.json })
        }
    }

    /// The tree back as YAML (block style), for reports.
    public func yaml(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        var out = ""
        switch kind {
        case .scalar(let s): return s
        case .map:
            for (k, v) in entries {
                if case .scalar(let s) = v.kind {
                    out += "\(pad)\(k): \(ConfigNode.quoteIfNeeded(s))\n"
                } else if v.entries.isEmpty && v.items.isEmpty {
                    out += "\(pad)\(k): \(v.isMap ? "{}" : "[]")\n"
                } else {
                    out += "\(pad)\(k):\n" + v.yaml(indent: indent + 1)
                }
            }
        case .list:
            for v in items {
                if case .scalar(let s) = v.kind {
                    out += "\(pad)- \(ConfigNode.quoteIfNeeded(s))\n"
                } else {
                    out += "\(pad)-\n" + v.yaml(indent: indent + 1)
                }
            }
        }
        return out
    }

    static func quoteIfNeeded(_ s: String) -> String {
        if s.isEmpty || s.contains(where: { ":#{}[],&*!|>'\"%@`".contains($0) }) || s.hasPrefix(" ") || s.hasSuffix(" ")
        {
            return JSONWriter.quote(s)
        }
        return s
    }
}
