import Foundation
import HandoffModel
import HandoffSupport

extension Simulation {
    /// A policy with a fitted SPECS model (`specs_model`): every request's steps, scores and lengths
    /// are one trajectory drawn from the model (seeded by the scenario's seed and the request), the
    /// simulator runs them under the policy's replay (recorded scores that take the sampled
    /// decisions), and the accuracy is the model's, p = (1 − ω^γ)·h(s) + ω^γ·h(l) per request with
    /// its Poisson–binomial prediction interval (docs/specs.md). The summary keeps the scenario's own
    /// policy parameters.
    static func runSpecsModel(
        _ scenario: Scenario, _ run: SpecsModelRun, _ trace: Trace, checkingInvariants: Bool
    ) throws -> SimulationResult {
        let all = Array(0..<trace.count)
        let key = SpecsModelKey(rule: run.rule, model: run.model, seed: scenario.seed)
        let (steps, p) = trace.memoised(key) { () -> SpecsModelKey.Value in
            var steps: [[SpecsModel.Step]] = []
            var p: [Double?] = []
            for r in all {
                let rng = RandomStream(seed: RandomStream.derive(seed: scenario.seed, name: "specs-model-request-\(r)"))
                let x = run.model.sample(trace: trace, request: r, rule: run.rule, rng: rng)
                steps.append(x.steps)
                p.append(x.pCorrect)
            }
            return (SpecsModel.stepsTrace(base: trace, requests: all, trajectories: steps, rule: run.rule), p)
        }
        var s = scenario
        s.policy = run.replay
        let sim = HybridSimulator(scenario: s, trace: steps)
        sim.checksInvariants = checkingInvariants
        let outcome = try sim.run()
        let acc = modelAccuracy(outcome, trace) { p[$0] }
        return SimulationResult(
            scenario: scenario, outcome: outcome, accuracy: acc,
            sources: .init(trace: trace, policy: scenario.policy, accuracy: acc, closedLoop: false, fitted: "specs_model"))
    }
}

/// The memo key of a SPECS model's sampled steps: the rule, the whole model and the seed.
struct SpecsModelKey: MemoKey {
    typealias Value = (Trace, [Double?])
    let rule: SpecsModel.Rule
    let model: SpecsModel
    let seed: UInt64
}
