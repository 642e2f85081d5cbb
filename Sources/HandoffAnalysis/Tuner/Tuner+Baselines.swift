import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// The same problem solved for one tier of the policy alone: the simple alternative a hybrid must
/// beat to be worth deploying.
public struct TuneBaseline: Sendable {
    /// `large-only`, `small-only`: the tier's name and "-only".
    public var name: String
    public var tier: String
    /// Its answer under the same objective, constraints and ties (nil: it could not run).
    public var best: TunePoint?
    public var evaluations: [TunePoint]
    /// Why it could not run (an input error of the single-tier variant), or nil.
    public var error: String?
    /// The hybrid against this baseline alone, in one sentence.
    public var versus = ""
    /// The override that makes the scenario this baseline (`policy={name: single, tier: T}`).
    public var overrides: [String] { ["policy={name: single, tier: \(tier)}"] }

    /// Bounds of one constraint under which the hybrid alone meets it: `key ≤ B` for B in
    /// [from, to), or `key ≥ B` for B in (from, to], among the configurations evaluated.
    public struct Range: Sendable {
        public var key: String
        public var relation: MetricConstraint.Relation
        public var from: Double
        public var to: Double
    }
}

extension Tuner {
    /// The tiers a baseline runs alone: each distinct tier the policy serves on, when it has two
    /// or more (a single-tier policy is its own baseline).
    func baselineTiers() throws -> [String] {
        let tiers = try family.scenario().servingTiers
        return tiers.count > 1 ? tiers : []
    }

    /// The axes that still mean something with `tier` alone: not the policy's, not the
    /// network's, not another tier's (its `tiers.`, `cost.` or `models.` fields).
    func baselineAxes(_ tier: String, others: [String]) -> [TuneAxis] {
        spec.axes.filter { a in
            let p = a.path
            if p.hasPrefix("policy.") || p == "policy" || p.hasPrefix("network.") { return false }
            return !others.contains { o in ["tiers", "cost", "models"].contains { p.hasPrefix("\($0).\(o).") } }
        }
    }

    /// Solves the problem for each tier alone (`policy={name: single, tier: T}`) and states
    /// which wins.
    func compareWithBaselines(_ r: inout TuneResult) throws {
        let tiers = try baselineTiers()
        guard !tiers.isEmpty, let objective = spec.objective else { return }
        for t in tiers {
            var sub = spec
            sub.axes = baselineAxes(t, others: tiers.filter { $0 != t })
            sub.baselines = false
            // Every combination: the bounds under which only the hybrid meets a constraint need
            // the baselines' best value of it over the whole grid, not only the cheap part.
            sub.exhaustive = true
            let name = "\(t)-only"
            let tuner = Tuner(family: family.derived(["policy={name: single, tier: \(t)}"]), spec: sub)
            tuner.progress = { [progress] in progress("baseline \(name): \($0)") }
            do {
                let b = try tuner.search(sub.axes)
                r.simulations += b.simulations
                r.baselines.append(TuneBaseline(name: name, tier: t, best: b.best, evaluations: b.evaluations))
            } catch let e as HandoffError {
                r.baselines.append(TuneBaseline(name: name, tier: t, best: nil, evaluations: [], error: e.description))
            }
        }
        r.hybridWinsWhen = hybridOnlyRanges(r)
        let v = verdict(r, objective)
        r.verdict = v + SummaryKeys.syntheticAccuracyNote(r.best?.summary ?? r.evaluations.first?.summary, text: v)
        r.recommended = recommended(r)
        for k in r.baselines.indices { r.baselines[k].versus = versus(r.best, r.baselines[k], objective) }
    }

    /// Which answer the verdict recommends: nil for the hybrid, else the baseline's index (nil
    /// too when nothing meets the constraints).
    func recommended(_ r: TuneResult) -> Int? {
        let feasible = r.baselines.filter { $0.best?.feasible == true }
        guard let w = winner(feasible) else { return nil }
        if let h = r.best, h.feasible, let c = choose([w.best!, h]), !pointsDiffer(c, h) { return nil }
        return r.baselines.firstIndex { $0.name == w.name }
    }

    /// Per constraint: the bounds under which some hybrid configuration meets it (and the other
    /// constraints) while no baseline configuration does; a gap within `tie` is noise, not a range.
    func hybridOnlyRanges(_ r: TuneResult) -> [TuneBaseline.Range] {
        spec.constraints.compactMap { c in
            let others = spec.constraints.filter { $0 != c }
            func values(_ ps: [TunePoint]) -> [Double] {
                ps.filter { MetricConstraint.allMet(others, by: $0.summary) }.compactMap { $0.summary.number(at: c.key) }
            }
            let hybrid = values(r.evaluations)
            let alone = values(r.baselines.flatMap(\.evaluations))
            switch c.relation {
            case .le, .lt:
                guard let h = hybrid.min() else { return nil }
                let b = alone.min() ?? .infinity
                // No baseline meets the other bounds (b = ∞): the hybrid alone meets this one from h on.
                let gap = b.isFinite ? h < b - spec.tie * abs(b) : true
                return gap ? TuneBaseline.Range(key: c.key, relation: c.relation, from: h, to: b) : nil
            case .ge, .gt:
                guard let h = hybrid.max() else { return nil }
                let b = alone.max() ?? -.infinity
                let gap = b.isFinite ? h > b + spec.tie * abs(b) : true
                return gap ? TuneBaseline.Range(key: c.key, relation: c.relation, from: b, to: h) : nil
            }
        }
    }
}
