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
    /// What the search resolves on a continuous interval, as a fraction of it: points are
    /// evaluated on a grid of the power of ten at or below (interval × this), so 0:1 at 0.01
    /// evaluates τ = 0.42, never 0.4218600642172626, and what is printed is what ran. nil: 0.01
    /// for an objective, 0.001 for a target (a share of requests calibrated to one request in
    /// hundreds needs the finer grid).
    public var tolerance: Double?
    public var relativeTolerance: Double { tolerance ?? (target == nil ? 0.01 : 0.001) }
    /// Objective values within this fraction of the best are ties (`--tie`, default 0.5%): the
    /// tie breakers decide among them, so noise is not optimised.
    public var tie = 0.005
    /// Metrics that break ties, in order (`--tie-break`); nil: accuracy, then fewer GPUs (cost,
    /// then fewer GPUs, when the objective is accuracy). `min:gpus` is the billed GPU count.
    public var tieBreak: [Objective]?
    /// Also solve the problem for each tier of the policy alone (`single`), each at its own best
    /// deployment among the tier axes varied, and say which wins (`--no-baselines` turns it off).
    public var baselines = true
    /// Discrete combinations searched at once.
    public var jobs = 1
    /// Search every combination: no pruning by the cost bound (`--exhaustive`).
    public var exhaustive = false

    public init(
        objective: Objective?, constraints: [MetricConstraint], target: (key: String, value: Double)?, axes: [TuneAxis]
    ) {
        self.objective = objective
        self.constraints = constraints
        self.target = target
        self.axes = axes
    }

    /// The tie breakers in force.
    public var tieBreakers: [Objective] {
        if let t = tieBreak { return t }
        let gpus = Objective(key: Objective.gpusKey, maximize: false)
        if objective?.key == "accuracy.predicted" {
            return [Objective(key: "cost_usd.per_1k_requests", maximize: false), gpus]
        }
        return [Objective(key: "accuracy.predicted", maximize: true), gpus]
    }
}

/// One simulated point of a tuning run.
public struct TunePoint: Sendable {
    public var config: [(path: String, value: String)]
    public var summary: JSONValue
    public var feasible: Bool
    /// GPUs billed and their $ per hour (`Scenario.billedGPUs`).
    public var gpus: Int
    public var usdPerHour: Double

    /// A summary metric, or `gpus` for the billed GPU count.
    public func value(_ key: String) -> Double? { key == Objective.gpusKey ? Double(gpus) : summary.number(at: key) }
}

/// The answer of `tune`.
public struct TuneResult: Sendable {
    public var best: TunePoint?
    public var evaluations: [TunePoint]
    public var simulations: Int
    public var method: String
    public var note: String?
    /// The same problem solved for each tier alone; empty when the policy has one tier.
    public var baselines: [TuneBaseline] = []
    /// One sentence: which wins and by how much (nil without baselines or with `--target`).
    public var verdict: String?
    /// Bounds under which only the hybrid meets a constraint (where it loses at the user's bound).
    public var hybridWinsWhen: [TuneBaseline.Range] = []
    /// The baseline the verdict recommends instead of the hybrid (an index of `baselines`), or nil.
    public var recommended: Int?
}

/// `handoff tune`: the best configuration under constraints, or the one that hits a target.
///
/// A continuous field is searched, for each combination of the discrete ones, by a scan of
/// `scanPoints` points; then, between neighbours where feasibility flips, GSL's Brent root finder
/// on the margin of the constraint that flips (the optimum of a monotone trade-off sits on such a
/// boundary); then GSL's Brent minimiser around the best interior scan point. With `--target`,
/// Brent root finding on metric − target between the scan neighbours that bracket it (as RouteLLM
/// calibrates its threshold to a target share of strong-model calls). Points are evaluated on the
/// grid the tolerance resolves. The answer is the best feasible point evaluated, objectives within
/// `tie` of the best being ties broken by `tieBreakers`. A configuration with failed or rejected
/// requests is never feasible. Combinations run on `jobs` threads; the result does not depend on
/// it. Cost: scanPoints + O(log(1/tolerance)) simulations per boundary, per discrete combination.
public final class Tuner: @unchecked Sendable {
    public let family: ScenarioFamily
    public let spec: TuneSpec
    /// Called after each new simulation with a line saying how far the search is.
    public var progress: (String) -> Void = { _ in }
    let lock = NSLock()
    var simulated = 0
    /// Combinations in the search, for progress lines.
    var combinations = 1

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
        guard spec.tie >= 0, spec.tie < 1 else { throw HandoffError.input("expected a fraction in [0, 1)", field: "--tie") }
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
        for t in spec.tieBreak ?? [] where t.key != Objective.gpusKey {
            try SummaryKeys.check(t.key, in: base, field: "--tie-break")
        }
    }

    /// Simulates one configuration and says so.
    func simulate(_ config: [(path: String, value: String)]) throws -> TunePoint {
        let key = config.map { "\($0.path)=\($0.value)" }
        let s = try family.summary(key)
        let billed = try family.scenario(key).billedGPUs
        let p = TunePoint(
            config: config, summary: s, feasible: MetricConstraint.allMet(spec.constraints, by: s), gpus: billed.count,
            usdPerHour: billed.usdPerHour)
        lock.lock()
        defer { lock.unlock() }
        simulated += 1
        progress(
            "\(simulated) simulation\(simulated == 1 ? "" : "s") over \(combinations) combination\(combinations == 1 ? "" : "s") of the discrete fields; last: \(key.isEmpty ? "the scenario as given" : key.joined(separator: " "))"
        )
        return p
    }

    func loss(_ p: TunePoint) -> Double {
        if let o = spec.objective { return o.loss(p.summary) }
        if let t = spec.target { return abs((p.summary.number(at: t.key) ?? .infinity) - t.value) }
        return 0
    }

    public func run() throws -> TuneResult {
        try validate()
        var r = try search(spec.axes)
        if spec.baselines, spec.target == nil { try compareWithBaselines(&r) }
        return r
    }

    /// Searches `axes` (every discrete combination, the continuous interval within each).
    func search(_ axes: [TuneAxis]) throws -> TuneResult {
        let discrete = axes.compactMap {
            if case .discrete(let g) = $0 { return g }
            return nil
        }
        let cont = axes.first {
            if case .continuous = $0 { return true }
            return false
        }
        let grid = try Grid(discrete)
        combinations = grid.count
        let perCombination = try searchCombinations(grid, cont)
        let all = perCombination.flatMap(\.points)
        let best = choose(all)
        var note = perCombination.compactMap(\.note).first
        let notes = combinationNotes(perCombination, grid)
        if !notes.isEmpty { note = ([note].compactMap { $0 } + notes).joined(separator: "; ") }
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
                ("config", .object(p.config.map { ($0.path, .string($0.value)) })), ("feasible", .bool(p.feasible)),
                ("gpus", .number(Double(p.gpus))), ("usd_per_hour", .number(p.usdPerHour))
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
        func full(_ p: TunePoint?) -> JSONValue {
            guard let b = p, case .object(let pairs) = point(b) else { return .null }
            return .object(pairs + [("summary", b.summary)])
        }
        let baselines = JSONValue.array(
            r.baselines.map { b in
                .object([
                    ("name", .string(b.name)), ("tier", .string(b.tier)),
                    ("feasible", .bool(b.best?.feasible ?? false)), ("error", b.error.map(JSONValue.string) ?? .null),
                    ("simulations", .number(Double(b.evaluations.count))), ("versus", .string(b.versus)),
                    ("best", full(b.best))
                ])
            })
        let ranges = JSONValue.array(
            r.hybridWinsWhen.map {
                .object([
                    ("key", .string($0.key)), ("relation", .string($0.relation.rawValue)),
                    ("from", $0.from.isFinite ? .number($0.from) : .null), ("to", $0.to.isFinite ? .number($0.to) : .null)
                ])
            })
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
            ("best", full(r.best)),
            ("tie", .number(spec.tie)),
            ("tie_break", .array(spec.tieBreakers.map { .string($0.description) })),
            ("baselines", baselines),
            ("verdict", r.verdict.map(JSONValue.string) ?? .null),
            ("recommended", .string(r.recommended.map { r.baselines[$0].name } ?? "hybrid")),
            ("hybrid_wins_when", ranges),
            ("simulations", .number(Double(r.simulations))),
            ("evaluations", .array(r.evaluations.map(point)))
        ])
    }
}
