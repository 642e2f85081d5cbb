import Foundation
import HandoffSupport

extension SpecsModel {
    /// Reads a model file (`handoff specs-loop` writes `specs-model.yaml`).
    public static func load(path: String) throws -> SpecsModel {
        let node = try ConfigNode.parse(yaml: String(decoding: try FileIO.read(path), as: UTF8.self), origin: path)
        let r = ConfigReader(node)
        func law(_ key: String) throws -> ScoreLaw {
            guard let s = try r.section(key) else { throw r.missing(key) }
            let l = ScoreLaw(
                mean: try s.double("mean"), sdStep: try s.double("sd_step", min: 0),
                sdCandidate: try s.double("sd_candidate", min: 0))
            try s.finish()
            return l
        }
        var m = SpecsModel(
            draftScores: try law("draft_scores"), targetScores: try law("target_scores"),
            draftStepTokens: try r.double("draft_step_tokens", min: 1),
            targetStepTokens: try r.double("target_step_tokens", min: 1),
            lengthResponse: try r.double("length_response", min: 0, exclusiveMin: true),
            accuracyExponent: try r.double("accuracy_exponent", min: 0, exclusiveMin: true),
            maxTokens: try r.int("max_tokens", min: 1), fittedOn: try r.string("fitted_on", default: ""))
        m.rightGivenRight = try r.double("right_given_right", default: 1, min: 0, max: 1)
        m.rightGivenWrong = try r.double("right_given_wrong", default: 0, min: 0, max: 1)
        m.scorePromptTokens = try r.int("score_prompt_tokens", default: 0, min: 0)
        m.draftSteps = try steps(r, "draft")
        m.targetSteps = try steps(r, "target")
        try r.finish()
        return m
    }

    /// Trace request `r`'s sampled steps (its recorded small-only and large-only lengths) and its
    /// P(correct) from its labels and the steps' target share (nil without both labels).
    public func sample(trace: Trace, request r: Int, rule: Rule, rng: RandomStream) -> (steps: [Step], pCorrect: Double?) {
        let q = trace.requests[r]
        let t = trajectory(
            smallTokens: trace.outputTokens(r), largeTokens: q.largeOutputTokens ?? trace.outputTokens(r), rule: rule,
            rng: rng)
        guard let s = q.smallCorrect, let l = q.largeCorrect else { return (t, nil) }
        let all = t.reduce(0) { $0 + $1.tokens }
        let w = Double(t.filter(\.byTarget).reduce(0) { $0 + $1.tokens }) / Double(max(1, all))
        return (t, pCorrect(small: s, large: l, targetShare: w))
    }

    /// Recorded steps as two flat lists: `<tier>_step_sizes` (candidates per step) and
    /// `<tier>_step_scores` (their scores, step after step).
    static func steps(_ r: ConfigReader, _ tier: String) throws -> [[Double]] {
        guard r.has(tier + "_step_sizes") else { return [] }
        let sizes = try r.doubleList(tier + "_step_sizes", min: 1)
        let scores = try r.doubleList(tier + "_step_scores", min: 0)
        guard sizes.allSatisfy({ $0 == $0.rounded() }), Int(sizes.reduce(0, +)) == scores.count else {
            throw r.error(
                "expected whole candidate counts summing to the \(scores.count) scores of \(tier)_step_scores",
                key: tier + "_step_sizes")
        }
        var out: [[Double]] = []
        var at = 0
        for k in sizes.map({ Int($0) }) {
            out.append(Array(scores[at..<(at + k)]))
            at += k
        }
        return out
    }

    /// A trace whose `specs` plan (`acceptance_from: trace`, `beam_width` = the rule's) takes exactly
    /// `trajectories`' steps and decisions: request k is `base`'s request `requests[k]` with its
    /// output made of the steps' tokens, each step's draft scores and target rewards recorded (0 where
    /// the step had no such phase: the plan does not read them there), nudged by a float's width where
    /// a Float rounding would flip a comparison with the thresholds. Difficulties are 0 (the plan reads
    /// none).
    public static func stepsTrace(
        base: Trace, requests: [Int], trajectories: [[Step]], rule: Rule
    ) -> Trace {
        let n = rule.width
        var reqs: [TraceRequest] = []
        var offsets = [0]
        var steps: [Int32] = []
        var stepOffsets = [0]
        var scores: [Float] = []
        var rewards: [Float] = []
        for (k, r) in requests.enumerated() {
            reqs.append(base.requests[r])
            var at = 0
            for s in trajectories[k] {
                at += s.tokens
                steps.append(Int32(at))
                scores += padded(s.draftScores, n, passes: { $0 >= rule.threshold })
                rewards += padded(s.targetScores, n, passes: { $0 > rule.switchBack })
            }
            offsets.append(offsets.last! + at)
            stepOffsets.append(steps.count)
        }
        return Trace(
            requests: reqs, offsets: offsets, difficulty: DifficultyColumn([Float](repeating: 0, count: offsets.last!)),
            steps: steps, stepOffsets: stepOffsets, candidates: n, stepScores: scores, stepRewards: rewards)
    }

    /// `xs` as n floats (zeros when empty) whose comparisons with a threshold are `xs`'s.
    static func padded(_ xs: [Double], _ n: Int, passes: (Double) -> Bool) -> [Float] {
        guard !xs.isEmpty else { return [Float](repeating: 0, count: n) }
        return (0..<n).map { c in
            let x = c < xs.count ? xs[c] : 0
            var f = Float(x)
            while passes(Double(f)) != passes(x) { f = passes(x) ? f.nextUp : f.nextDown }
            return f
        }
    }
}
