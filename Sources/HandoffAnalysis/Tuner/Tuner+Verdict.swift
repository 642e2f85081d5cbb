import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// The verdict: the hybrid against its single-tier baselines, in one sentence a planner can act on.
extension Tuner {
    /// Which wins and by how much; where the hybrid loses, "do not deploy the hybrid", with the
    /// bounds under which it would be the only one to meet a constraint.
    func verdict(_ r: TuneResult, _ o: Objective) -> String {
        let names = r.baselines.map(\.name).joined(separator: " and ")
        let feasible = r.baselines.filter { $0.best?.feasible == true }
        guard let h = r.best, h.feasible else {
            guard let w = winner(feasible) else {
                return
                    "Neither the hybrid nor \(names) meets the constraints in the configurations evaluated: relax a bound or widen the search."
            }
            return
                "Deploy \(w.name), not the hybrid: no hybrid configuration evaluated meets the constraints, and \(w.name) does, at \(o.key) = \(HumanNumber.format(w.best!.value(o.key)))."
        }
        guard let w = winner(feasible) else {
            let why = r.baselines.map { "\($0.name): \(shortfall($0))" }.joined(separator: "; ")
            return "Deploy the hybrid: \(names) alone \(r.baselines.count > 1 ? "do" : "does") not meet the constraints (\(why))."
        }
        let b = w.best!
        if let c = choose([b, h]), !pointsDiffer(c, h) {
            return "Deploy the hybrid: " + edge(h, over: b, o, winner: "the hybrid", loser: w.name) + "."
                + unresolved(h, b, o, other: w.name)
        }
        var s = "Do not deploy the hybrid: " + edge(b, over: h, o, winner: w.name, loser: "the hybrid's best") + "."
        s += unresolved(h, b, o, other: w.name)
        s += accuracyCaveat(b, h, winner: w.name)
        if !r.hybridWinsWhen.isEmpty {
            s +=
                " The hybrid would be the only one to meet "
                + r.hybridWinsWhen.map(rangeText).joined(separator: ", or ") + " (within the fields and values searched)."
        } else {
            s += " No bound on the constraints, within the fields and values searched, leaves the hybrid alone meeting it."
        }
        return s
    }

    /// The hybrid's answer against one baseline's, in a sentence.
    func versus(_ hybrid: TunePoint?, _ b: TuneBaseline, _ o: Objective) -> String {
        let h = hybrid?.feasible == true ? hybrid : nil
        switch (h, b.best?.feasible == true ? b.best : nil) {
        case (nil, nil): return "neither the hybrid nor \(b.name) meets the constraints"
        case (nil, .some): return "\(b.name) wins: no hybrid configuration evaluated meets the constraints"
        case (.some, nil): return "the hybrid wins: \(b.name) misses the constraints (\(shortfall(b)))"
        case (.some(let h), .some(let p)):
            if let c = choose([p, h]), !pointsDiffer(c, h) {
                return "the hybrid wins: " + edge(h, over: p, o, winner: "it", loser: b.name)
            }
            return "\(b.name) wins: " + edge(p, over: h, o, winner: "it", loser: "the hybrid")
        }
    }

    /// When the objective is predicted accuracy and each answer's figure lies inside the other's 95%
    /// interval: the labelled requests do not resolve the edge, and the sentence says so.
    func unresolved(_ h: TunePoint, _ b: TunePoint, _ o: Objective, other: String) -> String {
        func interval(_ p: TunePoint) -> (Double, Double)? {
            switch p.summary["accuracy"]?["ci95"] {
            case .numbers(let xs)? where xs.count == 2: return (xs[0], xs[1])
            case .array(let xs)? where xs.count == 2:
                guard case .number(let lo) = xs[0], case .number(let hi) = xs[1] else { return nil }
                return (lo, hi)
            default: return nil
            }
        }
        guard o.key == "accuracy.predicted", let x = h.value(o.key), let y = b.value(o.key), let hi = interval(h),
            let bi = interval(b), (bi.0...bi.1).contains(x), (hi.0...hi.1).contains(y)
        else { return "" }
        func f(_ i: (Double, Double)) -> String { "[\(HumanNumber.format(i.0)), \(HumanNumber.format(i.1))]" }
        return
            " The accuracy edge is not resolved: each prediction lies inside the other's 95% interval (the hybrid \(f(hi)), \(other) \(f(bi)))."
    }

    /// When nothing bounds accuracy and the winner predicts less than the hybrid (beyond the
    /// tie): say so, with the constraint that would weigh it.
    func accuracyCaveat(_ w: TunePoint, _ h: TunePoint, winner: String) -> String {
        let key = "accuracy.predicted"
        guard !bounds(key), let a = w.value(key), let b = h.value(key), a < b - spec.tie * abs(b) else { return "" }
        return
            " But \(winner) predicts accuracy \(HumanNumber.format(a)) against the hybrid's \(HumanNumber.format(b)): if that matters, bound it (--constraint '\(key)>=\(HumanNumber.roundedDown(b, digits: 3))')."
    }

    /// Whether the objective or a constraint is on `key`.
    func bounds(_ key: String) -> Bool { spec.objective?.key == key || spec.constraints.contains { $0.key == key } }

    /// The best of the baselines' answers, by the same rule as the search (ties included).
    func winner(_ feasible: [TuneBaseline]) -> TuneBaseline? {
        guard let p = choose(feasible.compactMap(\.best)) else { return nil }
        return feasible.first { $0.best.map { pointsDiffer($0, p) } == false }
    }

    /// Whether two points are different answers (a hybrid and a baseline always are).
    func pointsDiffer(_ a: TunePoint, _ b: TunePoint) -> Bool {
        a.summary != b.summary || a.config.map(\.value) != b.config.map(\.value)
    }

    /// Why `a` beats `b`: the objective by how much, or the tie and the breaker that decided.
    func edge(_ a: TunePoint, over b: TunePoint, _ o: Objective, winner: String, loser: String) -> String {
        let keys = [o] + spec.tieBreakers
        for (k, key) in keys.enumerated() {
            guard let x = a.value(key.key), let y = b.value(key.key), x != y else { continue }
            let tied = abs(x - y) <= spec.tie * min(abs(x), abs(y))
            if tied && k + 1 < keys.count { continue }
            let pct = y != 0 ? abs(x - y) / abs(y) * 100 : .infinity
            let dir = (x < y) ? "lower" : "higher"
            let measure =
                "\(winner) meets the constraints at \(key.key) = \(HumanNumber.format(x)) against \(HumanNumber.format(y)) for \(loser), \(HumanNumber.format(pct, digits: 3))% \(dir)"
            if k == 0 { return measure }
            return
                "\(winner) ties \(loser) on \(o.key) (within \(HumanNumber.format(spec.tie * 100))%: \(HumanNumber.format(a.value(o.key))) against \(HumanNumber.format(b.value(o.key)))) and wins on \(key.key == Objective.gpusKey ? "GPUs" : key.key): \(HumanNumber.format(x)) against \(HumanNumber.format(y))"
        }
        return "\(winner) and \(loser) tie on \(o.key) and every tie breaker; \(winner) is the simpler"
    }

    /// The first constraint a baseline's answer misses, or why it could not run.
    func shortfall(_ b: TuneBaseline) -> String {
        if let e = b.error { return "could not run: \(e)" }
        guard let p = b.best else { return "nothing evaluated" }
        if !SummaryKeys.servedAll(p.summary) { return "failed or rejected requests" }
        if !SummaryKeys.steady(p.summary) { return "its best run is \(SummaryKeys.stability(p.summary))" }
        guard let c = spec.constraints.first(where: { !$0.satisfied(p.summary) }) else { return "meets them" }
        return "\(c.key) = \(HumanNumber.format(p.summary.number(at: c.key))) against \(c.description)"
    }

    func rangeText(_ r: TuneBaseline.Range) -> String {
        let head = "\(r.key) \(r.relation.rawValue) B"
        switch r.relation {
        case .le, .lt:
            let from = HumanNumber.format(r.from)
            return r.to.isFinite ? "\(head) for B from \(from) up to \(HumanNumber.format(r.to))" : "\(head) for any B from \(from) on"
        case .ge, .gt:
            let to = HumanNumber.format(r.to)
            return r.from.isFinite ? "\(head) for B above \(HumanNumber.format(r.from)) up to \(to)" : "\(head) for any B up to \(to)"
        }
    }
}
