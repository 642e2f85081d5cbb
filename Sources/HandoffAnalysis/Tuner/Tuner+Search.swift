import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// The search within one combination of the discrete axes, the grid a continuous interval is
/// evaluated on, and the choice among the points evaluated (ties within `TuneSpec.tie`).
extension Tuner {
    /// The points one combination evaluated, in evaluation order, and a note on the search.
    struct CombinationResult {
        var points: [TunePoint] = []
        var note: String?
        /// Why the combination was not searched: its models do not fit in GPU memory.
        var skipped: String?
        /// Not simulated: the cost bound showed it cannot win (`Tuner+Combinations`).
        var pruned = false
    }

    /// The grid step a continuous interval is evaluated on: the power of ten at or below
    /// (hi − lo) × tolerance (0:1 at 0.01 → 0.01; 0:32 at 0.01 → 0.1).
    static func resolution(lo: Double, hi: Double, tolerance: Double) -> Int {
        Int(floor(log10((hi - lo) * tolerance)))
    }

    /// `x` on the grid of 10^exponent, inside [lo, hi]: 0.4218600642172626 → 0.42 at −2.
    static func snap(_ x: Double, exponent: Int, lo: Double, hi: Double) -> Double {
        let v =
            exponent < 0
            ? (x * pow(10, Double(-exponent))).rounded() / pow(10, Double(-exponent))
            : (x / pow(10, Double(exponent))).rounded() * pow(10, Double(exponent))
        return min(hi, max(lo, v))
    }

    /// Searches the continuous interval (if any) with the discrete axes fixed at `fixed`.
    func searchCombination(_ fixed: [(path: String, value: String)], _ cont: TuneAxis?) throws -> CombinationResult {
        var out = CombinationResult()
        var seen: [String: TunePoint] = [:]
        func evaluate(_ config: [(path: String, value: String)]) throws -> TunePoint {
            let k = config.map { "\($0.path)=\($0.value)" }.joined(separator: "\u{1}")
            if let p = seen[k] { return p }
            let p = try simulate(config)
            seen[k] = p
            out.points.append(p)
            return p
        }
        guard case .continuous(let path, let lo, let hi)? = cont else {
            try evaluate(fixed)
            return out
        }
        // An objective's optimum is evaluated on the grid the tolerance resolves; a target is
        // calibrated exactly (a share of requests steps at each request's own difficulty).
        let e = spec.target == nil ? Self.resolution(lo: lo, hi: hi, tolerance: spec.relativeTolerance) : nil
        let xtol = (hi - lo) * spec.relativeTolerance
        @discardableResult
        func at(_ x: Double) throws -> TunePoint {
            let v = e.map { Self.snap(x, exponent: $0, lo: lo, hi: hi) } ?? x
            return try evaluate(fixed + [(path, JSONWriter.number(v))])
        }
        let n = max(3, spec.scanPoints)
        let xs = (0..<n).map { lo + (hi - lo) * Double($0) / Double(n - 1) }
        let scan = try xs.map { try at($0) }
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
                out.note =
                    "the target is not bracketed by \(path) in [\(JSONWriter.number(lo)), \(JSONWriter.number(hi))]: the closest scan point is reported"
            }
            return out
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
        return out
    }

    /// The answer among `points`: with a target, the closest; else among the feasible points (all
    /// of them when none is), those whose objective is within `tie` of the best, narrowed by each
    /// tie breaker in turn (again within `tie`); among those left, the best by the first tie
    /// breaker exactly, then the next, then the objective (objectives within the tie are noise,
    /// so the most accurate of them wins, not the one $5e-9 cheaper). The first such point in
    /// evaluation order wins an exact tie, so the answer does not depend on threads.
    public func choose(_ points: [TunePoint]) -> TunePoint? {
        if spec.target != nil { return points.min { loss($0) < loss($1) } }
        let feasible = points.filter(\.feasible)
        var pool = feasible.isEmpty ? points : feasible
        let primary = spec.objective.map { [$0] } ?? []
        for o in primary + spec.tieBreakers { pool = Self.withinTie(pool, o, tie: spec.tie) }
        for o in spec.tieBreakers + primary { pool = Self.withinTie(pool, o, tie: 0) }
        return pool.first
    }

    /// The points whose `o` is within `tie` (relative) of the best; all of them when no point has it.
    static func withinTie(_ points: [TunePoint], _ o: Objective, tie: Double) -> [TunePoint] {
        let losses = points.map { p in p.value(o.key).map { o.maximize ? -$0 : $0 } ?? .infinity }
        guard let best = losses.min(), best.isFinite else { return points }
        let slack = tie * abs(best)
        return zip(points, losses).filter { $0.1 <= best + slack }.map(\.0)
    }
}
