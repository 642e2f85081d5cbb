import Foundation
import HandoffModel
import HandoffSupport

extension Simulation {
    /// A splitreason scenario with a closed-loop model: the simulator runs the live trajectory
    /// the model predicts for each request (docs/closed-loop.md) under the replay policy, and the
    /// accuracy is the model's, with its Poisson–binomial prediction interval. The summary keeps the
    /// scenario's own policy parameters.
    static func runClosedLoop(
        _ scenario: Scenario, _ sr: SplitReasonPolicy, _ model: ClosedLoopModel, _ trace: Trace,
        checkingInvariants: Bool
    ) throws -> SimulationResult {
        let segment = sr.minSegmentTokens
        let all = Array(0..<trace.count)
        let key =
            "closed-loop|\(sr.offloadThreshold)|\(segment)|\(model.crossingFactor)|\(model.lengthResponse)|\(model.accuracyExponent)|\(model.maxTokens)"
        let (prediction, live) = trace.memoised(key) { () -> (ClosedLoopPrediction, Trace) in
            let p = ClosedLoopPrediction.make(
                model, trace: trace, requests: all, threshold: sr.offloadThreshold, segment: segment)
            var values: [Float] = []
            var offsets = [0]
            for r in all {
                values += model.stream(trace: trace, request: r, segment: segment, p.trajectories[r])
                offsets.append(values.count)
            }
            return (p, Trace(requests: trace.requests, offsets: offsets, difficulty: DifficultyColumn(values)))
        }
        var s = scenario
        s.policy = sr.liveReplay
        let sim = HybridSimulator(scenario: s, trace: live)
        sim.checksInvariants = checkingInvariants
        let outcome = try sim.run()
        let used = Array(Set(outcome.requests.map(\.traceIndex))).sorted()
        var acc: AccuracyModel.Prediction?
        let labelled = used.filter { prediction.pCorrect[$0] != nil }
        if !labelled.isEmpty {
            let ps = labelled.map { prediction.pCorrect[$0]! }
            let n = Double(ps.count)
            acc = AccuracyModel.Prediction(
                predicted: ps.reduce(0, +) / n, ci95: ClosedLoopPrediction.poissonBinomialInterval(ps, level: 0.95),
                labeled: ps.count,
                smallOnly: Double(labelled.filter { trace.requests[$0].smallCorrect! }.count) / n,
                largeOnly: Double(labelled.filter { trace.requests[$0].largeCorrect! }.count) / n)
        }
        return SimulationResult(
            scenario: scenario, outcome: outcome, accuracy: acc,
            sources: .init(trace: trace, policy: scenario.policy, accuracy: acc, closedLoop: true))
    }
}
