import Foundation
import HandoffSupport

/// What SPECS does live, fitted on live runs at some beam widths (`handoff specs-loop`,
/// docs/specs.md) and used to predict any width and threshold.
///
/// - **Scores.** Up to the widest recorded step, a step's n scores are n candidates of a recorded
///   step (drawn without replacement): the live steps' own spread and correlation, no shape
///   assumed. Beyond it, a fitted law: on the logit scale a step has a level m ~ N(μ, σ_step²) and
///   each candidate scores m + N(0, σ_cand²), so candidates of one step are correlated and a wider
///   beam helps less than n independent tries; P(the best of n passes τ) = 1 −
///   E_m[Φ((logit τ − m)/σ_cand)^n]. The draft's candidates and the target's have their own.
/// - **The SPECS rule** on sampled scores: while drafting, a step is accepted when the best of its
///   n draft scores is ≥ τ; otherwise the target writes it, and writes on until the best of its n
///   scores is > the switch-back threshold.
/// - **Lengths.** An accepted draft step emits `draftStepTokens`, a target step `targetStepTokens`.
///   A request is done when its progress Σ draft tokens / n_s + Σ target tokens / n_l reaches λ, n_s
///   and n_l its recorded small-only and large-only lengths (the answer, as each model writes it),
///   or at `maxTokens`.
/// - **Accuracy:** p = (1 − ω^γ)·h(s) + ω^γ·h(l), with (s, l) the request's small-only and
///   large-only outcome labels (greedy runs), ω the share of its tokens the target wrote, and h the
///   chance that sampled decoding answers right where the greedy run was right (h(true)) or wrong
///   (h(false)): a greedy label is one draw, and candidates sampled at temperature T flip some
///   outcomes either way. h(true) = 1, h(false) = 0 is the closed loop's p = s + (l − s)·ω^γ.
public struct SpecsModel: Sendable, Hashable {
    public struct ScoreLaw: Sendable, Hashable {
        public var mean: Double
        public var sdStep: Double
        public var sdCandidate: Double

        public init(mean: Double, sdStep: Double, sdCandidate: Double) {
            self.mean = mean
            self.sdStep = sdStep
            self.sdCandidate = sdCandidate
        }

        public static func logit(_ p: Double) -> Double {
            let q = min(1 - 1e-6, max(1e-6, p))
            return log(q / (1 - q))
        }

        /// P(the best of n candidates' scores ≥ τ), by a 401-point rule over the step level (±8 sd).
        public func passBest(width n: Int, threshold tau: Double) -> Double {
            let z = Self.logit(tau)
            func failAll(_ m: Double) -> Double {
                guard sdCandidate > 0 else { return m >= z ? 0 : 1 }
                return pow(GSL.normalCDF((z - m) / sdCandidate), Double(n))
            }
            guard sdStep > 0 else { return 1 - failAll(mean) }
            let k = 400
            var sum = 0.0
            var wsum = 0.0
            for i in 0...k {
                let u = -8 + 16 * Double(i) / Double(k)
                let w = exp(-u * u / 2) * (i == 0 || i == k ? 0.5 : 1)
                sum += w * failAll(mean + sdStep * u)
                wsum += w
            }
            return 1 - sum / wsum
        }

        /// One step's n candidate scores in (0, 1).
        public func sample(width n: Int, rng: RandomStream) -> [Double] {
            let m = mean + sdStep * rng.gaussian()
            return (0..<n).map { _ in 1 / (1 + exp(-(m + sdCandidate * rng.gaussian()))) }
        }
    }

    public var draftScores: ScoreLaw
    public var targetScores: ScoreLaw
    /// The recorded steps' candidate scores (each step's n candidates), draft and target: at a width
    /// no wider than a recorded step the model draws from them (a step, then n of its candidates
    /// without replacement), and uses the fitted law only beyond them.
    public var draftSteps: [[Double]] = []
    public var targetSteps: [[Double]] = []
    public var draftStepTokens: Double
    public var targetStepTokens: Double
    public var lengthResponse: Double
    public var accuracyExponent: Double
    /// h(true), h(false): P(a sampled run is right | the greedy label is right / wrong).
    public var rightGivenRight = 1.0
    public var rightGivenWrong = 0.0
    public var maxTokens: Int
    /// The scorer's prompt tokens per call beyond the candidate, fitted from the live scoring times
    /// (a serving figure: `policy.score_prompt_tokens` takes it unless the scenario sets its own).
    public var scorePromptTokens = 0
    /// What the fit saw, for the file's readers.
    public var fittedOn: String

    public init(
        draftScores: ScoreLaw, targetScores: ScoreLaw, draftStepTokens: Double, targetStepTokens: Double,
        lengthResponse: Double, accuracyExponent: Double, maxTokens: Int, fittedOn: String
    ) {
        self.draftScores = draftScores
        self.targetScores = targetScores
        self.draftStepTokens = draftStepTokens
        self.targetStepTokens = targetStepTokens
        self.lengthResponse = lengthResponse
        self.accuracyExponent = accuracyExponent
        self.maxTokens = maxTokens
        self.fittedOn = fittedOn
    }

    /// One sampled step: the scores that decided it and what it emitted.
    public struct Step: Sendable, Equatable {
        /// The draft's candidate scores (empty when the step started on the target).
        public var draftScores: [Double]
        /// The target's candidate scores (empty for an accepted draft step).
        public var targetScores: [Double]
        public var tokens: Int
        public init(draftScores: [Double], targetScores: [Double], tokens: Int) {
            self.draftScores = draftScores
            self.targetScores = targetScores
            self.tokens = tokens
        }
        public var accepted: Bool { !draftScores.isEmpty && targetScores.isEmpty }
        public var byTarget: Bool { !targetScores.isEmpty }
    }

    /// How a request is run: SPECS (`drafts`), or the target alone at every step (target beam search).
    public struct Rule: Sendable, Hashable {
        public var width: Int
        public var threshold: Double
        public var switchBack: Double
        public var drafts: Bool
        public init(width: Int, threshold: Double, switchBack: Double, drafts: Bool = true) {
            self.width = width
            self.threshold = threshold
            self.switchBack = switchBack
            self.drafts = drafts
        }
    }

    /// One request's sampled steps, for recorded lengths n_s (small-only) and n_l (large-only).
    public func trajectory(smallTokens ns: Int, largeTokens nl: Int, rule: Rule, rng: RandomStream) -> [Step] {
        var steps: [Step] = []
        var drafting = rule.drafts
        var progress = 0.0
        var tokens = 0
        while tokens < maxTokens, progress < lengthResponse - 1e-9 {
            var step = Step(draftScores: [], targetScores: [], tokens: 0)
            var len = targetStepTokens
            var per = Double(max(1, nl))
            if drafting {
                step.draftScores = Self.draw(draftSteps, draftScores, width: rule.width, rng: rng)
                drafting = step.draftScores.max()! >= rule.threshold
                if drafting { (len, per) = (draftStepTokens, Double(max(1, ns))) }
            }
            if !drafting {
                step.targetScores = Self.draw(targetSteps, targetScores, width: rule.width, rng: rng)
                drafting = rule.drafts && step.targetScores.max()! > rule.switchBack
            }
            // The last step ends where the answer does.
            let left = (lengthResponse - progress) * per
            step.tokens = max(1, min(maxTokens - tokens, Int((min(len, left) - 1e-9).rounded(.up))))
            progress += Double(step.tokens) / per
            tokens += step.tokens
            steps.append(step)
        }
        return steps
    }

    /// One step's n scores: a recorded step with at least n candidates, n of them drawn without
    /// replacement (partial Fisher–Yates); the law when no recorded step is that wide.
    static func draw(_ steps: [[Double]], _ law: ScoreLaw, width n: Int, rng: RandomStream) -> [Double] {
        let wide = steps.indices.filter { steps[$0].count >= n }
        guard !wide.isEmpty else { return law.sample(width: n, rng: rng) }
        var xs = steps[wide[rng.int(below: wide.count)]]
        for i in 0..<n { xs.swapAt(i, i + rng.int(below: xs.count - i)) }
        return Array(xs.prefix(n))
    }

    /// P(a draft step is accepted) at width n and threshold τ: over the recorded steps with ≥ n
    /// candidates, 1 − C(f, n)/C(k, n) (f of the step's k candidates fail τ), which is exact for n
    /// of them drawn without replacement; the law's passBest beyond the recorded widths.
    public func acceptance(width n: Int, threshold tau: Double) -> Double {
        let wide = draftSteps.filter { $0.count >= n }
        guard !wide.isEmpty else { return draftScores.passBest(width: n, threshold: tau) }
        func allFail(_ k: Int, _ f: Int) -> Double {
            guard f >= n else { return 0 }
            return (0..<n).reduce(1.0) { $0 * Double(f - $1) / Double(k - $1) }
        }
        let p = wide.map { 1 - allFail($0.count, $0.filter { $0 < tau }.count) }
        return p.reduce(0, +) / Double(p.count)
    }

    /// P(correct) of a request with labels (s, l) whose target wrote a share ω of its tokens.
    public func pCorrect(small s: Bool, large l: Bool, targetShare w: Double) -> Double {
        let f = pow(w, accuracyExponent)
        return (1 - f) * (s ? rightGivenRight : rightGivenWrong) + f * (l ? rightGivenRight : rightGivenWrong)
    }
}
