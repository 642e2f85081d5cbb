import Foundation
import HandoffModel
import HandoffSupport

/// Fits a `SpecsModel` to live SPECS runs (docs/specs.md), on the requests of the runs at the
/// fitting widths, leaving out held-out prompts (`held_out` in the trace):
///
/// - the recorded steps' scores, kept as they are (the model draws from them up to their width);
/// - each score law (beyond the recorded widths) by the method of moments of one-way random effects on the logit scale: the
///   candidates' grand mean μ; σ_cand² the pooled within-phase variance (phases of ≥ 2 candidates);
///   σ_step² = the variance of single candidates − σ_cand² (≥ 0). Every scored candidate counts,
///   passing or not, so the law does not depend on the threshold the runs used. Without phases of
///   ≥ 2 candidates the two cannot be told apart: σ_step = 0 (independent candidates), said in
///   `fittedOn`;
/// - the step lengths: the mean emitted tokens of accepted draft steps and of target steps, last
///   steps left out (they end where the answer does);
/// - λ: the mean progress Σ draft tokens / n_s + Σ target tokens / n_l of the requests that ended
///   by themselves (not at the cap);
/// - γ, h(true) and h(false) by maximum likelihood of the outcomes under
///   p = (1 − ω^γ)·h(s) + ω^γ·h(l), with each request's measured target share ω: coordinate descent,
///   each coordinate by a grid scan and GSL Brent, 8 rounds (γ in [0.02, 50], h(true) in [0.5, 1],
///   h(false) in [0, 0.5]: a label says more than a coin). No labelled request: γ = 1, h = (1, 0).
public enum SpecsFit {
    public typealias Step = SpecsModel.Step

    /// One measured request of a live SPECS run.
    public struct Request: Sendable {
        public var request: Int
        public var steps: [Step]
        /// The answer ended by itself (end of sequence), not at the cap.
        public var ended: Bool
        public var correct: Bool?
        public init(request: Int, steps: [Step], ended: Bool, correct: Bool?) {
            self.request = request
            self.steps = steps
            self.ended = ended
            self.correct = correct
        }
        var targetShare: Double {
            let all = steps.reduce(0) { $0 + $1.tokens }
            return all == 0 ? 0 : Double(steps.filter { !$0.targetScores.isEmpty }.reduce(0) { $0 + $1.tokens }) / Double(all)
        }
    }

    public static func fit(trace: Trace, requests given: [Request], maxTokens: Int, widths: [Int]) throws -> SpecsModel {
        let requests = given.filter { !trace.requests[$0.request].heldOut }
        guard !requests.isEmpty else {
            throw HandoffError.input("no measured requests to fit the SPECS model on (all held out?)")
        }
        let draft = scoreLaw(requests.flatMap { $0.steps.map(\.draftScores) })
        let target = scoreLaw(requests.flatMap { $0.steps.map(\.targetScores) })
        func meanLength(_ byTarget: Bool) -> Double {
            let xs = requests.flatMap { r in
                r.steps.dropLast().filter { byTarget ? !$0.targetScores.isEmpty : $0.targetScores.isEmpty }.map {
                    Double($0.tokens)
                }
            }
            return xs.isEmpty ? 1 : Statistics.mean(xs)
        }
        var m = SpecsModel(
            draftScores: draft.law, targetScores: target.law, draftStepTokens: meanLength(false),
            targetStepTokens: meanLength(true), lengthResponse: lengthResponse(trace, requests), accuracyExponent: 1,
            maxTokens: maxTokens,
            fittedOn:
                "\(requests.count) requests at beam widths \(widths.map(String.init).joined(separator: ", ")) (held-out prompts left out)"
                + (draft.separated ? "" : "; no draft step with ≥ 2 candidates: candidates taken as independent"))
        m.draftSteps = requests.flatMap { $0.steps.map(\.draftScores) }.filter { !$0.isEmpty }
        m.targetSteps = requests.flatMap { $0.steps.map(\.targetScores) }.filter { !$0.isEmpty }
        return try accuracyLaw(trace, requests, m)
    }

    /// One-way random effects on logit scores, by the method of moments.
    static func scoreLaw(_ phases: [[Double]]) -> (law: SpecsModel.ScoreLaw, separated: Bool) {
        let groups = phases.filter { !$0.isEmpty }.map { $0.map(SpecsModel.ScoreLaw.logit) }
        let all = groups.flatMap { $0 }
        guard all.count >= 2 else { return (.init(mean: all.first ?? 0, sdStep: 0, sdCandidate: 0), false) }
        let mu = Statistics.mean(all)
        let total = all.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(all.count - 1)
        var ss = 0.0
        var df = 0
        for g in groups where g.count >= 2 {
            let gm = Statistics.mean(g)
            ss += g.reduce(0) { $0 + ($1 - gm) * ($1 - gm) }
            df += g.count - 1
        }
        guard df > 0 else { return (.init(mean: mu, sdStep: 0, sdCandidate: total.squareRoot()), false) }
        let within = ss / Double(df)
        return (.init(mean: mu, sdStep: max(0, total - within).squareRoot(), sdCandidate: within.squareRoot()), true)
    }

    static func lengthResponse(_ trace: Trace, _ requests: [Request]) -> Double {
        let xs = requests.filter(\.ended).map { r -> Double in
            let q = trace.requests[r.request]
            let ns = Double(max(1, trace.outputTokens(r.request)))
            let nl = Double(max(1, q.largeOutputTokens ?? trace.outputTokens(r.request)))
            return r.steps.reduce(0) { $0 + Double($1.tokens) / ($1.targetScores.isEmpty ? ns : nl) }
        }
        return xs.isEmpty ? 1 : Statistics.mean(xs)
    }

    static func accuracyLaw(_ trace: Trace, _ requests: [Request], _ m: SpecsModel) throws -> SpecsModel {
        let obs = requests.compactMap { r -> (w: Double, s: Bool, l: Bool, y: Bool)? in
            let q = trace.requests[r.request]
            guard let s = q.smallCorrect, let l = q.largeCorrect, let y = r.correct else { return nil }
            return (r.targetShare, s, l, y)
        }
        guard !obs.isEmpty else { return m }
        var model = m
        func nll(_ x: SpecsModel) -> Double {
            obs.reduce(0) { acc, o in
                let p = min(1 - 1e-6, max(1e-6, x.pCorrect(small: o.s, large: o.l, targetShare: o.w)))
                return acc - log(o.y ? p : 1 - p)
            }
        }
        // (coordinate, its range, and the scale it is searched on: γ on the log scale).
        let coordinates: [(WritableKeyPath<SpecsModel, Double>, Double, Double, Bool)] = [
            (\.accuracyExponent, log(0.02), log(50), true), (\.rightGivenRight, 0.5, 1, false),
            (\.rightGivenWrong, 0, 0.5, false)
        ]
        for _ in 0..<8 {
            for (path, lo, hi, logScale) in coordinates {
                let current = model
                let v = try ClosedLoopFit.minimise({ v in
                    var x = current
                    x[keyPath: path] = logScale ? exp(v) : v
                    return nll(x)
                }, lo: lo, hi: hi)
                model[keyPath: path] = logScale ? exp(v) : v
            }
        }
        return model
    }
}
