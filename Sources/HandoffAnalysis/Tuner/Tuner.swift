import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// A field `tune` varies: a continuous interval `path=lo:hi`, searched with 1-D methods, or a
/// discrete axis (`path=a,b,c` or `path=start:stop:step`), enumerated.
public enum TuneAxis: Sendable, Equatable {
    case continuous(path: String, lo: Double, hi: Double)
    case discrete(GridAxis)

    public static func parse(_ spec: String) throws -> TuneAxis {
        if let eq = spec.firstIndex(of: "=") {
            let path = String(spec[..<eq])
            let raw = String(spec[spec.index(after: eq)...])
            let parts = raw.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2 {
                guard let lo = Double(parts[0]), let hi = Double(parts[1]), lo.isFinite, hi.isFinite else {
                    throw HandoffError.input("'\(raw)' is not an interval lo:hi of numbers", field: "--vary \(spec)")
                }
                guard hi > lo else {
                    throw HandoffError.input("the interval \(raw) is empty (hi ≤ lo)", field: "--vary \(spec)")
                }
                guard !path.isEmpty else { throw HandoffError.input("no field before '='", field: "--vary \(spec)") }
                return .continuous(path: path, lo: lo, hi: hi)
            }
        }
        do { return .discrete(try GridAxis.parse(spec)) } catch let e as HandoffError {
            throw e.with(field: "--vary \(spec)")
        }
    }

    public var path: String {
        switch self {
        case .continuous(let p, _, _): return p
        case .discrete(let a): return a.path
        }
    }
}

/// What `tune` looks for: minimise or maximise an objective under constraints, or hit a target.
public struct TuneSpec: Sendable {
    public var objective: Objective?
    public var constraints: [MetricConstraint]
    /// `--target KEY=VALUE`: the configuration whose metric is closest to VALUE.
    public var target: (key: String, value: Double)?
    public var axes: [TuneAxis]
    /// Points of the initial scan of a continuous interval (ends included).
    public var scanPoints = 9
    /// Interval width at which root finding and minimisation stop, as a fraction of the interval.
    public var relativeTolerance = 1e-3

    public init(
        objective: Objective?, constraints: [MetricConstraint], target: (key: String, value: Double)?, axes: [TuneAxis]
    ) {
        self.objective = objective
        self.constraints = constraints
        self.target = target
        self.axes = axes
    }
}

/// One simulated point of a tuning run.
public struct TunePoint: Sendable {
    public var config: [(path: String, value: String)]
    public var summary: JSONValue
    public var feasible: Bool
}

/// The answer of `tune`.
public struct TuneResult: Sendable {
    public var best: TunePoint?
    public var evaluations: [TunePoint]
    public var simulations: Int
    public var method: String
    public var note: String?
}

/// `handoff tune`: the best configuration under constraints, or the one that hits a target.
///
/// A continuous field is searched, for each combination of the discrete ones, by a scan of
/// `scanPoints` points; then, between neighbours where feasibility flips, GSL's Brent root finder
/// on the margin of the constraint that flips (the optimum of a monotone trade-off sits on such a
/// boundary); then GSL's Brent minimiser around the best interior scan point. With `--target`,
/// Brent root finding on metric − target between the scan neighbours that bracket it (as RouteLLM
/// calibrates its threshold to a target share of strong-model calls). The answer is the best
/// feasible point evaluated. A configuration with failed or rejected requests is never feasible.
/// Cost: scanPoints + O(log(1/tolerance)) simulations per boundary, per discrete combination.
public final class Tuner {
    public let family: ScenarioFamily
    public let spec: TuneSpec
    /// Called after each new simulation with a line saying how far the search is.
    public var progress: (String) -> Void = { _ in }
    private var points: [String: TunePoint] = [:]
    private var order: [String] = []

    public init(family: ScenarioFamily, spec: TuneSpec) {
        self.family = family
        self.spec = spec
    }

    /// Checks the fields, values and metric names before any search (bad input exits 2 early).
    public func validate() throws {
        guard !spec.axes.isEmpty else { throw HandoffError.input("give at least one --vary path=lo:hi (or a list)") }
        let continuous = spec.axes.filter {
            if case .continuous = $0 { return true }
            return false
        }
        guard continuous.count <= 1 else {
            throw HandoffError.input(
                "at most one continuous interval (path=lo:hi); give the others as lists or start:stop:step",
                field: "--vary")
        }
        guard spec.objective != nil || spec.target != nil else {
            throw HandoffError.input("give --objective or --target")
        }
        guard !(spec.objective != nil && spec.target != nil) else {
            throw HandoffError.input("give --objective or --target, not both")
        }
        var seen = Set<String>()
        for a in spec.axes where !seen.insert(a.path).inserted {
            throw HandoffError.input("'\(a.path)' is varied twice", field: "--vary")
        }
        // Every field and value must be accepted by the scenario; the metrics must exist.
        for a in spec.axes {
            switch a {
            case .continuous(let p, let lo, let hi):
                try family.check(p, values: [lo, hi].map(JSONWriter.number), field: "--vary \(p)")
            case .discrete(let g): try family.check(g.path, values: g.values, field: "--vary \(g.path)")
            }
        }
        let base = try family.summary()
        if let o = spec.objective { try SummaryKeys.check(o.key, in: base, field: "--objective") }
        for c in spec.constraints { try SummaryKeys.check(c.key, in: base, field: "--constraint \(c)") }
        if let t = spec.target { try SummaryKeys.check(t.key, in: base, field: "--target") }
    }

    /// Simulates one configuration (memoised) and records it.
    @discardableResult
    func evaluate(_ config: [(path: String, value: String)]) throws -> TunePoint {
        let key = config.map { "\($0.path)=\($0.value)" }
        let k = key.joined(separator: "\u{1}")
        if let p = points[k] { return p }
        let s = try family.summary(key)
        let p = TunePoint(config: config, summary: s, feasible: MetricConstraint.allMet(spec.constraints, by: s))
        points[k] = p
        order.append(k)
        progress("\(order.count) configurations simulated; last \(key.joined(separator: " "))")
        return p
    }

    func loss(_ p: TunePoint) -> Double {
        if let o = spec.objective { return o.loss(p.summary) }
        if let t = spec.target { return abs((p.summary.number(at: t.key) ?? .infinity) - t.value) }
        return 0
    }

    func better(_ a: TunePoint, than b: TunePoint?) -> Bool {
        guard let b else { return true }
        if spec.target == nil && a.feasible != b.feasible { return a.feasible }
        return loss(a) < loss(b)
    }

    public func run() throws -> TuneResult {
        try validate()
        let discrete = spec.axes.compactMap {
            if case .discrete(let g) = $0 { return g }
            return nil
        }
        let cont = spec.axes.first {
            if case .continuous = $0 { return true }
            return false
        }
        let grid = try Grid(discrete)
        var note: String?
        for k in 0..<grid.count {
            let fixed = grid.configuration(k)
            guard case .continuous(let path, let lo, let hi)? = cont else {
                try evaluate(fixed)
                continue
            }
            let xtol = (hi - lo) * spec.relativeTolerance
            func at(_ x: Double) throws -> TunePoint { try evaluate(fixed + [(path, JSONWriter.number(x))]) }
            let n = max(3, spec.scanPoints)
            let xs = (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
            let scan = try xs.map(at)
            if let t = spec.target {
                let g = scan.map { ($0.summary.number(at: t.key) ?? .nan) - t.value }
                if let i = (0..<(n - 1)).first(where: { g[$0] * g[$0 + 1] <= 0 }) {
                    if g[i] != 0 && g[i + 1] != 0 {
                        let b = try Brent.root(in: xs[i], xs[i + 1], xtol: xtol) { x in
                            (try at(x).summary.number(at: t.key) ?? .nan) - t.value
                        }
                        try at(b.lower)
                        try at(b.upper)
                    }
                } else {
                    note =
                        "the target is not bracketed by \(path) in [\(JSONWriter.number(lo)), \(JSONWriter.number(hi))]: the closest scan point is reported"
                }
                continue
            }
            // Feasibility boundaries between scan neighbours.
            for i in 0..<(n - 1) where scan[i].feasible != scan[i + 1].feasible {
                let flip = spec.constraints.first { $0.satisfied(scan[i].summary) != $0.satisfied(scan[i + 1].summary) }
                let b = try Brent.root(in: xs[i], xs[i + 1], xtol: xtol) { x in
                    let p = try at(x)
                    if let c = flip, SummaryKeys.servedAll(p.summary) {
                        let m = c.margin(p.summary)
                        return m == 0 && (c.relation == .lt || c.relation == .gt) ? -1e-300 : m
                    }
                    return p.feasible ? 1 : -1
                }
                try at(b.lower)
                try at(b.upper)
            }
            // Brent minimisation around the best interior feasible scan point.
            if let i = (1..<(n - 1)).filter({ scan[$0].feasible }).min(by: { loss(scan[$0]) < loss(scan[$1]) }),
                scan[i - 1].feasible, scan[i + 1].feasible, loss(scan[i]) < loss(scan[i - 1]),
                loss(scan[i]) < loss(scan[i + 1])
            {
                _ = try Brent.minimum(in: xs[i - 1], xs[i], xs[i + 1], xtol: xtol) { x in
                    let p = try at(x)
                    return p.feasible ? self.loss(p) : self.loss(scan[i - 1]) + abs(self.loss(scan[i - 1])) + 1
                }
            }
        }
        let all = order.map { points[$0]! }
        var best: TunePoint?
        for p in all where better(p, than: best) { best = p }
        if spec.target == nil, best?.feasible == false {
            note = "no configuration evaluated meets the constraints; the least bad is reported"
        }
        let method =
            cont == nil
            ? "enumeration"
            : spec.target != nil
                ? "scan of \(spec.scanPoints) points, then GSL Brent root finding on metric − target"
                : "scan of \(spec.scanPoints) points, GSL Brent root finding on the flipping constraint's margin, GSL Brent minimisation"
        return TuneResult(best: best, evaluations: all, simulations: family.simulations, method: method, note: note)
    }

    /// The result as JSON (stable keys: docs/tuning.md).
    public func json(_ r: TuneResult) -> JSONValue {
        func point(_ p: TunePoint) -> JSONValue {
            var pairs: [(String, JSONValue)] = [
                ("config", .object(p.config.map { ($0.path, .string($0.value)) })), ("feasible", .bool(p.feasible))
            ]
            if let o = spec.objective {
                pairs.append(("objective", p.summary.number(at: o.key).map(JSONValue.number) ?? .null))
            }
            if let t = spec.target {
                pairs.append(("target_value", p.summary.number(at: t.key).map(JSONValue.number) ?? .null))
            }
            for c in spec.constraints {
                pairs.append((c.key, p.summary.number(at: c.key).map(JSONValue.number) ?? .null))
            }
            return .object(pairs)
        }
        var best: JSONValue = .null
        if let b = r.best, case .object(let pairs) = point(b) { best = .object(pairs + [("summary", b.summary)]) }
        return .object([
            (
                "tune",
                .object([
                    ("scenario", .string(family.origin)), ("set", .array(family.baseOverrides.map { .string($0) })),
                    ("objective", spec.objective.map { .string($0.description) } ?? .null),
                    ("constraints", .array(spec.constraints.map { .string($0.description) })),
                    (
                        "target",
                        spec.target.map { .object([("key", .string($0.key)), ("value", .number($0.value))]) } ?? .null
                    ),
                    (
                        "vary",
                        .array(
                            spec.axes.map { a -> JSONValue in
                                switch a {
                                case .continuous(let p, let lo, let hi):
                                    return .string("\(p)=\(JSONWriter.number(lo)):\(JSONWriter.number(hi))")
                                case .discrete(let g): return .string("\(g.path)=\(g.values.joined(separator: ","))")
                                }
                            })
                    )
                ])
            ),
            ("method", .string(r.method)),
            ("feasible", .bool(r.best?.feasible ?? false)),
            ("note", r.note.map(JSONValue.string) ?? .null),
            ("best", best),
            ("simulations", .number(Double(r.simulations))),
            ("evaluations", .array(r.evaluations.map(point)))
        ])
    }
}
