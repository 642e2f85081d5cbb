import Foundation
import HandoffSupport

/// A seeded generator of token-difficulty traces, for demos, tests and benchmarks.
///
/// Per request r (all draws from the stream "trace.synthetic" of the seed):
/// - prompt tokens: round(LogNormal(ln `prompt_tokens.median`, `prompt_tokens.sigma`)) clamped to
///   [`min`, `max`];
/// - output tokens: the same law with the `output_tokens` parameters, or Uniform{min…max} when
///   `output_tokens.sigma` is 0 and `min` < `max`;
/// - hardness h ~ Beta(`hardness_alpha`, `hardness_beta`), mean h̄;
/// - tokens alternate between easy stretches and hard bursts: an easy stretch lasts
///   Geometric(p) tokens with p = rate·(h/h̄)/1000 (rate = `burst_rate_per_1k_tokens`, so a
///   request of average hardness has that many bursts per 1,000 tokens), a burst lasts
///   Geometric(1/`burst_tokens_mean`) tokens;
/// - an easy token's difficulty is `easy_max`·u³, a hard token's is `hard_min` + (1 − `hard_min`)·u,
///   u ~ Uniform(0, 1);
/// - step boundaries every Geometric(1/`step_tokens_mean`) tokens (when that is > 0);
/// - with `step_candidates` = K > 0 (and steps), per step with mean token difficulty d̄, from its own
///   stream "trace.synthetic.candidates" (so the tokens do not change with K): K draft-candidate
///   scores clamp(1 − d̄ + σ·z, 0, 1) and K target-candidate rewards clamp(1 − d̄/2 + σ·z, 0, 1),
///   z ~ N(0, 1), σ = `candidate_score_sd` (a hard step's drafts tend to be rejected; the target
///   does better on it);
/// - outcome labels from one shared u ~ Uniform(0, 1): small_correct = u < a_s·(1−h)/(1−h̄),
///   large_correct = u < a_l·(1−h)/(1−h̄), with a_s = `small_accuracy`, a_l = `large_accuracy`
///   (so a request the small model solves is solved by the large one whenever a_l ≥ a_s, and the
///   expected accuracies are a_s and a_l while no probability is clipped at 1).
public struct SyntheticTraceSpec: Sendable, Equatable {
    public struct Lengths: Sendable, Equatable {
        public var median: Double, sigma: Double, min: Int, max: Int
        public init(median: Double, sigma: Double, min: Int, max: Int) {
            self.median = median
            self.sigma = sigma
            self.min = min
            self.max = max
        }
    }
    public var requests = 200
    public var promptTokens = Lengths(median: 250, sigma: 0.6, min: 16, max: 4096)
    public var outputTokens = Lengths(median: 2000, sigma: 0.5, min: 64, max: 16384)
    public var hardnessAlpha = 2.0
    public var hardnessBeta = 5.0
    public var burstRatePer1kTokens = 2.0
    public var burstTokensMean = 24.0
    public var easyMax = 0.5
    public var hardMin = 0.6
    public var stepTokensMean = 0.0
    public var stepCandidates = 0
    public var candidateScoreSD = 0.15
    public var smallAccuracy = 0.3
    public var largeAccuracy = 0.7
    public var seed: UInt64 = 1

    public init() {}

    /// One request as the generator makes it: its metadata, its tokens' difficulties, its step
    /// boundaries (within the request) and, with `step_candidates`, K scores and rewards per step.
    public struct Request {
        public var request: TraceRequest
        public var difficulty: [Float]
        public var steps: [Int32]
        public var scores: [Float]
        public var rewards: [Float]
    }

    /// Candidates recorded per step (0 without steps).
    public var candidatesPerStep: Int { stepTokensMean > 0 ? stepCandidates : 0 }

    /// Generates the requests in order, one at a time, with exactly the draws of `generate()`.
    /// O(tokens) time; memory O(longest request), so a writer can stream a 10⁹-token trace.
    public func forEachRequest(_ body: (Request) throws -> Void) rethrows {
        let rng = RandomStream(seed: seed, name: "trace.synthetic")
        let candidateRNG = RandomStream(seed: seed, name: "trace.synthetic.candidates")
        let k = candidatesPerStep
        func length(_ l: Lengths) -> Int {
            if l.sigma == 0 { return l.min >= l.max ? l.min : l.min + rng.int(below: l.max - l.min + 1) }
            let x = rng.lognormal(mu: log(l.median), sigma: l.sigma).rounded()
            return Int(Swift.min(Swift.max(x, Double(l.min)), Double(l.max)))
        }
        var q = Request(
            request: TraceRequest(id: "", promptTokens: 0), difficulty: [], steps: [], scores: [], rewards: [])
        for r in 0..<self.requests {
            q.difficulty.removeAll(keepingCapacity: true)
            q.steps.removeAll(keepingCapacity: true)
            q.scores.removeAll(keepingCapacity: true)
            q.rewards.removeAll(keepingCapacity: true)
            let p = length(promptTokens)
            let n = length(outputTokens)
            let h = appendDifficulty(tokens: n, rng: rng, into: &q.difficulty)
            if stepTokensMean > 0 {
                var b = 0
                while true {
                    b += rng.geometric(p: 1 / stepTokensMean)
                    if b >= n { break }
                    q.steps.append(Int32(b))
                }
                if n > 0 { q.steps.append(Int32(n)) }
                if k > 0 {
                    var start = 0
                    for j in q.steps.indices {
                        let end = Int(q.steps[j])
                        var sum = 0.0
                        for t in start..<end { sum += Double(q.difficulty[t]) }
                        let dbar = sum / Double(end - start)
                        start = end
                        for _ in 0..<k {
                            q.scores.append(
                                Float(Swift.min(1, Swift.max(0, 1 - dbar + candidateScoreSD * candidateRNG.gaussian())))
                            )
                        }
                        for _ in 0..<k {
                            q.rewards.append(
                                Float(
                                    Swift.min(
                                        1, Swift.max(0, 1 - dbar / 2 + candidateScoreSD * candidateRNG.gaussian()))))
                        }
                    }
                }
            }
            let (small, large) = labels(hardness: h, rng: rng)
            q.request = TraceRequest(id: "syn-\(r)", promptTokens: p, smallCorrect: small, largeCorrect: large)
            q.request.profile = .synthetic
            try body(q)
        }
    }

    /// E[h] = α / (α + β), the mean of the hardness distribution.
    var meanHardness: Double { hardnessAlpha / (hardnessAlpha + hardnessBeta) }

    /// One request's difficulties: draws its hardness h ~ Beta(α, β), then alternating easy
    /// stretches and hard bursts up to `tokens`, appended to `values`. Returns h.
    @discardableResult
    public func appendDifficulty(tokens n: Int, rng: RandomStream, into values: inout [Float]) -> Double {
        let hbar = meanHardness
        let h = rng.beta(hardnessAlpha, hardnessBeta)
        let pStart = Swift.min(1, Swift.max(1e-9, burstRatePer1kTokens * (h / hbar) / 1000))
        let pEnd = 1 / Swift.max(1, burstTokensMean)
        var t = 0
        var hard = false
        while t < n {
            let run = Swift.min(n - t, rng.geometric(p: hard ? pEnd : pStart))
            if hard {
                for _ in 0..<run { values.append(Float(hardMin + (1 - hardMin) * rng.uniform())) }
            } else {
                for _ in 0..<run {
                    let u = rng.uniform()
                    values.append(Float(easyMax * u * u * u))
                }
            }
            t += run
            hard.toggle()
        }
        return h
    }

    /// Outcome labels of a request of hardness h, from one shared uniform (so a request the small
    /// model solves, the large one solves too).
    public func labels(hardness h: Double, rng: RandomStream) -> (small: Bool, large: Bool) {
        let u = rng.uniform()
        let scale = (1 - h) / (1 - meanHardness)
        return (u < smallAccuracy * scale, u < largeAccuracy * scale)
    }

    public func generate() -> Trace {
        var requests: [TraceRequest] = []
        requests.reserveCapacity(self.requests)
        var offsets = [0]
        offsets.reserveCapacity(self.requests + 1)
        let meanOut =
            outputTokens.sigma == 0
            ? Double(outputTokens.min + outputTokens.max) / 2
            : outputTokens.median * exp(outputTokens.sigma * outputTokens.sigma / 2)
        var values: [Float] = []
        // An estimate only; bounded, since a large sigma makes the lognormal mean overflow.
        let estimate = Swift.min(
            Double(self.requests) * meanOut * 1.05, Double(self.requests) * Double(outputTokens.max),
            Double(Limits.traceTokens))
        values.reserveCapacity(Int(estimate.isFinite ? estimate : 0))
        var steps: [Int32] = []
        var stepOffsets = [0]
        var scores: [Float] = []
        var rewards: [Float] = []
        forEachRequest { q in
            requests.append(q.request)
            values.append(contentsOf: q.difficulty)
            offsets.append(values.count)
            steps.append(contentsOf: q.steps)
            stepOffsets.append(steps.count)
            scores.append(contentsOf: q.scores)
            rewards.append(contentsOf: q.rewards)
        }
        return Trace(
            requests: requests, offsets: offsets, difficulty: DifficultyColumn(values), steps: steps,
            stepOffsets: stepOffsets,
            candidates: candidatesPerStep, stepScores: scores, stepRewards: rewards)
    }
}
