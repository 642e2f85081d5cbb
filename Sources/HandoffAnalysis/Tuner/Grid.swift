import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// One swept field and its values, from `--grid path=values`: a list (`0.5,0.7,0.9`, any YAML
/// scalars, e.g. GPU names) or an inclusive numeric range `start:stop:step` (`0.5:0.95:0.05`).
public struct GridAxis: Sendable, Equatable {
    public var path: String
    public var values: [String]

    public static func parse(_ spec: String) throws -> GridAxis {
        guard let eq = spec.firstIndex(of: "=") else {
            throw HandoffError.input(
                "expected path.to.field=values (a list a,b,c or a range start:stop:step)", field: "--grid \(spec)")
        }
        let path = String(spec[..<eq]).trimmingCharacters(in: .whitespaces)
        let raw = String(spec[spec.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
        guard !path.isEmpty, path.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty })
        else {
            throw HandoffError.input("'\(path)' is not a field path (names joined by dots)", field: "--grid \(spec)")
        }
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        if parts.count == 3, let a = Double(parts[0]), let b = Double(parts[1]), let step = Double(parts[2]) {
            guard step > 0, a.isFinite, b.isFinite else {
                throw HandoffError.input("the step of \(raw) must be > 0", field: "--grid \(spec)")
            }
            guard b >= a else {
                throw HandoffError.input("the range \(raw) is empty (stop < start)", field: "--grid \(spec)")
            }
            // Counted in Double before any Int conversion: (b − a)/step may be 1e608 (inf) or NaN.
            let count = ((b - a) / step + 1e-9).rounded(.down) + 1
            guard count.isFinite, count <= Double(Limits.configurations) else {
                throw HandoffError.input(
                    "the range \(raw) has \(count.isFinite ? JSONWriter.number(count) : "too many") values; at most \(Limits.configurations) (docs/limits.md: HANDOFF_MAX_CONFIGURATIONS)",
                    field: "--grid \(spec)")
            }
            let n = Int(count)
            // Values as a + k·step, printed in the shortest form that round-trips, so 0.1 steps stay 0.3, not 0.30000000000000004.
            let decimals =
                [parts[0], parts[2]].map { $0.split(separator: ".").dropFirst().first?.count ?? 0 }.max() ?? 0
            let values = (0..<n).map { k -> String in
                let x = a + Double(k) * step
                let r = (x * pow(10, Double(decimals))).rounded() / pow(10, Double(decimals))
                return JSONWriter.number(r)
            }
            // A step finer than the printed digits (1e-05 has no '.') would repeat values: print
            // them in full instead, and refuse a step below the resolution of a Double.
            if Set(values).count < values.count {
                let full = (0..<n).map { JSONWriter.number(a + Double($0) * step) }
                guard Set(full).count == full.count else {
                    throw HandoffError.input(
                        "the step of \(raw) is below the resolution of the numbers; values repeat",
                        field: "--grid \(spec)")
                }
                return GridAxis(path: path, values: full)
            }
            return GridAxis(path: path, values: values)
        }
        if parts.count > 1 && raw.contains(":") && !raw.contains(",") {
            throw HandoffError.input("'\(raw)' is not a range start:stop:step of numbers", field: "--grid \(spec)")
        }
        let values = raw.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !values.isEmpty, values.allSatisfy({ !$0.isEmpty }) else {
            throw HandoffError.input("no values (or an empty one) in '\(raw)'", field: "--grid \(spec)")
        }
        return GridAxis(path: path, values: values)
    }
}

/// The cartesian product of the axes, in a fixed order: the first axis varies slowest.
/// Configuration `k` is the same on every machine and in every shard.
public struct Grid: Sendable {
    public var axes: [GridAxis]

    public init(_ axes: [GridAxis]) throws {
        var seen = Set<String>()
        for a in axes where !seen.insert(a.path).inserted {
            throw HandoffError.input("'\(a.path)' is swept twice; give its values in one --grid", field: "--grid")
        }
        var n = 1
        for a in axes {
            guard let m = Checked.multiply(n, a.values.count), m <= Limits.configurations else {
                throw HandoffError.input(
                    "the grid has more than \(Limits.configurations) configurations (docs/limits.md: HANDOFF_MAX_CONFIGURATIONS raises it)",
                    field: "--grid")
            }
            n = m
        }
        self.axes = axes
    }

    /// Configurations: at most `Limits.configurations` (checked by `init`).
    public var count: Int { axes.reduce(1) { $0 * $1.values.count } }

    /// `[{path, values: [string]}]`, as sweep headers and `results.json` store the grid.
    public var json: JSONValue {
        .array(axes.map { .object([("path", .string($0.path)), ("values", .array($0.values.map { .string($0) }))]) })
    }

    /// The grid `json` wrote, or nil when `v` is not one.
    public init?(json v: JSONValue) throws {
        guard case .array(let items) = v else { return nil }
        var axes: [GridAxis] = []
        for a in items {
            guard case .string(let p)? = a["path"], case .array(let vs)? = a["values"] else { return nil }
            axes.append(
                GridAxis(
                    path: p,
                    values: vs.compactMap {
                        if case .string(let s) = $0 { return s }
                        return nil
                    }))
        }
        try self.init(axes)
    }

    /// The overrides (`path=value`) of configuration `k`.
    public func configuration(_ k: Int) -> [(path: String, value: String)] {
        var rest = k
        var out = [(String, String)](repeating: ("", ""), count: axes.count)
        for (i, a) in axes.enumerated().reversed() {
            out[i] = (a.path, a.values[rest % a.values.count])
            rest /= a.values.count
        }
        return out
    }
}

/// `--shard i/N`: configuration k belongs to shard k mod N (disjoint, together complete, and
/// balanced when neighbouring configurations cost alike).
public struct Shard: Sendable, Equatable {
    public var index: Int
    public var count: Int

    public static let whole = Shard(index: 0, count: 1)

    public static func parse(_ s: String) throws -> Shard {
        let p = s.split(separator: "/")
        guard p.count == 2, let i = Int(p[0]), let n = Int(p[1]), n >= 1, i >= 0, i < n else {
            throw HandoffError.input("expected i/N with 0 ≤ i < N, e.g. 0/4", field: "--shard \(s)")
        }
        return Shard(index: i, count: n)
    }

    public func contains(_ k: Int) -> Bool { k % count == index }
}
