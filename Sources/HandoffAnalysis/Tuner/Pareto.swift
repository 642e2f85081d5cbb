import HandoffModel
import HandoffSim
import HandoffSupport

/// Pareto frontier marking. Exact (tolerance 0): a point is on the frontier when no other point
/// is at least as good in every objective and strictly better in one. With a tolerance ε (ties
/// within noise, `tune --tie`): j dominates i when j is nowhere worse than i by more than ε·|i|
/// and somewhere better by more than ε·|i|, so a point whose only edge is noise is dominated by
/// the one that is really better elsewhere. ε-dominance is not transitive: should it leave no
/// point (a cycle), the exact frontier is returned. O(n²·objectives).
public enum Pareto {
    public enum Sense: Sendable { case maximize, minimize }

    /// The relative tolerance sweeps and reports use: the same 0.5% as `tune --tie`.
    public static let defaultTolerance = 0.005

    /// `points[i][j]` is objective j of point i; nil (unknown) never dominates and is never on the frontier.
    public static func frontier(_ points: [[Double?]], senses: [Sense], tolerance: Double = 0) -> [Bool] {
        let signed: [[Double]?] = points.map { p in
            guard p.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
            return zip(p, senses).map { $1 == .maximize ? $0! : -$0! }  // all maximised
        }
        let exact = mark(signed, tolerance: 0)
        guard tolerance > 0 else { return exact }
        let loose = mark(signed, tolerance: tolerance)
        return loose.contains(true) || !exact.contains(true) ? loose : exact
    }

    static func mark(_ signed: [[Double]?], tolerance: Double) -> [Bool] {
        var out = [Bool](repeating: false, count: signed.count)
        for i in signed.indices {
            guard let a = signed[i] else { continue }
            let slack = a.map { tolerance * abs($0) }
            var dominated = false
            for j in signed.indices where j != i {
                guard let b = signed[j] else { continue }
                var geAll = true
                var gtOne = false
                for k in 0..<a.count {
                    if b[k] < a[k] - slack[k] {
                        geAll = false
                        break
                    }
                    if b[k] > a[k] + slack[k] { gtOne = true }
                }
                if geAll && gtOne {
                    dominated = true
                    break
                }
            }
            out[i] = !dominated
        }
        return out
    }
}
