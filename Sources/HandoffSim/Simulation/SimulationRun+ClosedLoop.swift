import Foundation
import HandoffModel
import HandoffSupport

extension Simulation {
    /// A policy with a crossing rule and a closed-loop model (splitreason's `closed_loop`): the simulator runs one live trajectory
    /// per request drawn from the model (docs/closed-loop.md; seeded by the scenario's seed) under the replay policy, and the
    /// accuracy is the model's, with its Poisson–binomial prediction interval. The summary keeps the
    /// scenario's own policy parameters.
    static func runClosedLoop(
        _ scenario: Scenario, _ rule: CrossingRule, _ model: ClosedLoopModel, _ trace: Trace,
        checkingInvariants: Bool
    ) throws -> SimulationResult {
        let segment = rule.segmentTokens
        let all = Array(0..<trace.count)
        let key = ClosedLoopKey(threshold: rule.threshold, segment: segment, model: model, seed: scenario.seed)
        let (prediction, live) = trace.memoised(key) { () -> ClosedLoopKey.Value in
            let p = ClosedLoopPrediction.make(
                model, trace: trace, requests: all, threshold: rule.threshold, segment: segment)
            return (p, p.sampledStreams(model, trace: trace, requests: all, segment: segment, seed: scenario.seed))
        }
        var s = scenario
        s.policy = rule.replay
        let sim = HybridSimulator(scenario: s, trace: live)
        sim.checksInvariants = checkingInvariants
        let outcome = try sim.run()
        let acc = modelAccuracy(outcome, trace) { prediction.pCorrect[$0] }
        return SimulationResult(
            scenario: scenario, outcome: outcome, accuracy: acc,
            sources: .init(trace: trace, policy: scenario.policy, accuracy: acc, closedLoop: true))
    }
}

extension Simulation {
    /// A fitted model's accuracy over the requests served: the mean of each labelled request's
    /// P(correct), with its Poisson–binomial 95% interval; nil when none is labelled.
    static func modelAccuracy(
        _ outcome: SimulationOutcome, _ trace: Trace, _ p: (Int) -> Double?
    ) -> AccuracyModel.Prediction? {
        let used = Array(Set(outcome.requests.map(\.traceIndex))).sorted()
        let labelled = used.filter { p($0) != nil }
        guard !labelled.isEmpty else { return nil }
        let ps = labelled.map { p($0)! }
        let n = Double(ps.count)
        return AccuracyModel.Prediction(
            predicted: ps.reduce(0, +) / n, ci95: ClosedLoopPrediction.poissonBinomialInterval(ps, level: 0.95),
            labeled: ps.count,
            smallOnly: Double(labelled.filter { trace.requests[$0].smallCorrect! }.count) / n,
            largeOnly: Double(labelled.filter { trace.requests[$0].largeCorrect! }.count) / n)
    }
}

/// The memo key of a closed-loop prediction and the trace of its implied streams: the whole model
/// (the string key this replaces left out `crossingFloor`, so two models differing only there
/// shared a prediction).
struct ClosedLoopKey: MemoKey {
    typealias Value = (ClosedLoopPrediction, Trace)
    let threshold: Double
    let segment: Int
    let model: ClosedLoopModel
    /// The scenario's seed: it draws the sampled streams.
    let seed: UInt64
}
