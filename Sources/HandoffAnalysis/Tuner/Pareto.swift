import HandoffModel
import HandoffSim
import HandoffSupport

/// Pareto frontier marking: a point is on the frontier when no other point is at least as good
/// in every objective and strictly better in one. O(n²·objectives); exact, no ties lost.
public enum Pareto {
    public enum Sense: Sendable { case maximize, minimize }

    /// `points[i][j]` is objective j of point i; nil (unknown) never dominates and is never on the frontier.
    public static func frontier(_ points: [[Double?]], senses: [Sense]) -> [Bool] {
        let n = points.count
        let signed: [[Double]?] = points.map { p in
            guard p.allSatisfy({ $0 != nil && $0!.isFinite }) else { return nil }
            return zip(p, senses).map { $1 == .maximize ? $0! : -$0! }  // all maximised
        }
        var out = [Bool](repeating: false, count: n)
        for i in 0..<n {
            guard let a = signed[i] else { continue }
            var dominated = false
            for j in 0..<n where j != i {
                guard let b = signed[j] else { continue }
                var geAll = true
                var gtOne = false
                for k in 0..<a.count {
                    if b[k] < a[k] {
                        geAll = false
                        break
                    }
                    if b[k] > a[k] { gtOne = true }
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
