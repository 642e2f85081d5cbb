import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// What a report concludes: the threshold to deploy under the objective and constraints, and
/// the verdict against each tier alone (`tune`'s rules: ties within 0.5%, then accuracy).
public struct ReportDecision {
    public var objective: Objective
    public var constraints: [MetricConstraint]
    /// Where the constraints come from, in words.
    public var constraintSource: String
    /// The chosen threshold's index (nil: none meets the constraints, or no threshold grid).
    public var chosen: Int?
    public var tune: TuneResult

    /// The report's first paragraph.
    public func conclusion(thresholds: [String], accuracySource: String) -> String {
        let bounds = constraints.isEmpty ? "no constraints" : constraints.map(\.description).joined(separator: ", ")
        var s: String
        if let b = tune.best, b.feasible {
            let which = chosen.map { "Threshold \(thresholds[$0])" } ?? "The scenario as given"
            s =
                "\(which) is the best hybrid configuration: \(objective.description) = \(HumanNumber.format(b.value(objective.key))) subject to \(bounds) (\(constraintSource))."
            if let share = b.summary.number(at: "offload.token_fraction") {
                s += " The large tier writes \(HumanNumber.format(share * 100, digits: 3))% of the output tokens there."
            }
        } else {
            s = "No threshold meets \(bounds) (\(constraintSource)); the least bad is in the table."
        }
        if let v = tune.verdict { s += " " + v }
        if accuracySource == "synthetic" && !s.contains("SYNTHETIC") {
            s += " The accuracy is SYNTHETIC (invented labels): do not decide on it."
        }
        return s
    }
}

extension ThresholdReport {
    /// The share of requests that must meet the scenario's SLO when no constraint is given.
    public static let sloAttainment = 0.9

    /// Chooses among the thresholds simulated (no new runs) and solves the problem for each tier
    /// alone. Constraints: `constraints`, else the scenario's `slo` attained by at least 90% of
    /// requests (`slo.*_attainment ≥ 0.9`, DistServe's attainment target for goodput).
    static func decide(
        family: ScenarioFamily, thresholds: [String], results: [SimulationResult], baseline: SimulationResult,
        objective: Objective, constraints: [MetricConstraint]?, jobs: Int
    ) throws -> ReportDecision {
        try SummaryKeys.check(objective.key, in: baseline.summary, field: "--objective")
        for c in constraints ?? [] { try SummaryKeys.check(c.key, in: baseline.summary, field: "--constraint \(c)") }
        var source = "given"
        var cons = constraints ?? []
        if constraints == nil {
            let slo = baseline.scenario.slo
            for (key, bound) in [("ttft", slo.ttftMs), ("tpot", slo.tpotMs), ("e2el", slo.e2elMs)] where bound != nil {
                cons.append(MetricConstraint(key: "slo.\(key)_attainment", relation: .ge, bound: sloAttainment))
            }
            let given = [("TTFT", slo.ttftMs), ("TPOT", slo.tpotMs), ("E2EL", slo.e2elMs)].compactMap { n, b in
                b.map { "\(n) ≤ \(HumanNumber.format($0)) ms" }
            }
            source =
                cons.isEmpty
                ? "the scenario has no slo"
                : "the scenario's slo, \(given.joined(separator: ", ")), met by at least \(Int(sloAttainment * 100))% of requests"
        }
        let axes: [TuneAxis] =
            thresholds.isEmpty ? [] : [.discrete(GridAxis(path: "policy.offload_threshold", values: thresholds))]
        var spec = TuneSpec(objective: objective, constraints: cons, target: nil, axes: axes)
        spec.jobs = jobs
        let tuner = Tuner(family: family, spec: spec)
        let runs = thresholds.isEmpty ? [baseline] : results
        let points = zip(runs.indices, runs).map { k, r in
            let billed = r.scenario.billedGPUs
            return TunePoint(
                config: thresholds.isEmpty ? [] : [("policy.offload_threshold", thresholds[k])], summary: r.summary,
                feasible: MetricConstraint.allMet(cons, by: r.summary), gpus: billed.count,
                usdPerHour: billed.usdPerHour)
        }
        var r = TuneResult(best: tuner.choose(points), evaluations: points, simulations: 0, method: "enumeration", note: nil)
        try tuner.compareWithBaselines(&r)
        let chosen = r.best.flatMap { b in b.feasible ? points.firstIndex { !tuner.pointsDiffer($0, b) } : nil }
        return ReportDecision(
            objective: objective, constraints: cons, constraintSource: source,
            chosen: thresholds.isEmpty ? nil : chosen, tune: r)
    }
}
