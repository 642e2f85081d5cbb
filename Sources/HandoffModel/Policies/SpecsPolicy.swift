import HandoffSupport

/// `specs`: speculative drafts scored in a beam, per reasoning step (SPECS, arXiv 2506.15733).
///
/// Each step of `L` tokens (the trace's step boundaries, or `step_tokens` when it has none):
/// 1. the draft (`small`) samples `beam_width` = n candidate steps at once — n sequences sharing
///    the context as a cached prefix, each decoding L tokens (`Segment.width`);
/// 2. the target (`large`) scores the n candidates by prefill only, and the reward model (`prm`)
///    scores them in parallel (with `reward_tier: large` the target's one prefill does both);
/// 3. if some candidate's score ≥ `rejection_threshold`, one is kept and emitted; the other
///    branches leave every KV cache;
/// 4. otherwise the step is discarded and the target samples n candidate steps itself, which the
///    reward model scores; the best is emitted, and the request stays on the target until a step
///    whose best reward exceeds `switch_back_threshold` sends it back to drafting.
///
/// Scores: `acceptance_from: trace` reads the trace's per-candidate records (`step_scores` for
/// drafts, `step_rewards` for target steps; candidate c < n of each step); `acceptance_from: rate`
/// accepts each draft candidate i.i.d. with probability `acceptance` and switches back after a
/// target step with probability `switch_back_rate` (a seeded hash: plans do not depend on
/// scheduling). All candidates of a step are taken to be L tokens long (the trace records the
/// kept one). With `reward_tier: large` the target scores its own candidates too, after it samples
/// them: free for a likelihood score (it has their KV: one token is recomputed), `score_prompt_tokens`
/// per candidate for a verifier that reads a question (the live judge of `specs-loop`).
///
/// Accuracy: an accepted draft step counts as the verifier's output with weight ν =
/// `accuracy.verified_draft_credit` (default 1, docs/model.md), a fallback that makes every SPECS
/// run predict about the target's accuracy at any width. With `specs_model: FILE` (fitted by
/// `handoff specs-loop` on live runs, docs/specs.md) the simulator instead samples each request's
/// steps, scores and lengths from the fitted model and takes its accuracy from the model, which
/// moves with the beam width and the thresholds. Planning is O(steps · n).
public struct SpecsPolicy: RegisteredPolicy {
    public typealias Source = AcceptanceSource
    public var name: String { "specs" }
    public var beamWidth: Int
    public var rejectionThreshold: Double
    public var switchBackThreshold: Double
    public var source: Source
    public var acceptance: Double
    public var switchBackRate: Double
    public var seed: UInt64
    public var stepTokens: Int
    /// Tokens each scoring call reads besides the candidate (`score_prompt_tokens`): a verifier's
    /// question, template and re-read context (`handoff specs-loop`'s judge); 0 for a reward model or
    /// the likelihood score, which read the candidate alone.
    public var scorePromptTokens = 0
    /// The scenario set `score_prompt_tokens` (else a fitted model's figure is taken).
    var scorePromptExplicit = false
    /// The tier running the process reward model: `prm`, or `large` (no separate PRM).
    public var rewardTier: String
    /// A fitted SPECS model (`specs_model: FILE`), once resolved; and its file.
    public var specsModelFile: String?
    public var specsModel: SpecsModel?
    public var roles: [String] { hasPRM ? ["small", "large", rewardTier] : ["small", "large"] }
    var hasPRM: Bool { rewardTier != "large" }

    public init(
        beamWidth: Int, rejectionThreshold: Double = 0.5, switchBackThreshold: Double = 0.5, source: Source = .rate,
        acceptance: Double = 0.7, switchBackRate: Double = 0.5, seed: UInt64 = 1, stepTokens: Int = 64,
        rewardTier: String = "prm"
    ) {
        self.beamWidth = beamWidth
        self.rejectionThreshold = rejectionThreshold
        self.switchBackThreshold = switchBackThreshold
        self.source = source
        self.acceptance = acceptance
        self.switchBackRate = switchBackRate
        self.seed = seed
        self.stepTokens = stepTokens
        self.rewardTier = rewardTier
    }

    init(_ r: ConfigReader) throws {
        beamWidth = try r.int("beam_width", default: 4, min: 1, max: 256)
        rejectionThreshold = try r.double("rejection_threshold", default: 0.5, min: 0, max: 1)
        switchBackThreshold = try r.double("switch_back_threshold", default: 0.5, min: 0, max: 1)
        source = Source(
            rawValue: try r.string("acceptance_from", default: "trace", oneOf: Source.allCases.map(\.rawValue)))!
        acceptance = try r.double("acceptance", default: 0.7, min: 0, max: 1)
        switchBackRate = try r.double("switch_back_rate", default: 0.5, min: 0, max: 1)
        seed = UInt64(try r.int("acceptance_seed", default: 1, min: 0))
        stepTokens = try r.int("step_tokens", default: 64, min: 1)
        rewardTier = try r.string("reward_tier", default: "prm")
        specsModelFile = try r.optionalString("specs_model")
        scorePromptExplicit = r.has("score_prompt_tokens")
        scorePromptTokens = try r.int("score_prompt_tokens", default: 0, min: 0)
        if rewardTier.isEmpty {
            throw r.error("expected a tier name (prm: a tier of its own, or large), got ''", key: "reward_tier")
        }
        if rewardTier == "small" {
            throw r.error(
                "the reward model cannot be the draft tier; use prm (a tier of its own) or large", key: "reward_tier")
        }
    }

    /// Loads the fitted model `specs_model` names.
    public mutating func resolve(_ r: ConfigReader, tiers: [TierSpec], baseDir: String) throws {
        if let f = specsModelFile {
            specsModel = try SpecsModel.load(path: try r.existingPath("specs_model", f, baseDir: baseDir))
            if !scorePromptExplicit { scorePromptTokens = specsModel!.scorePromptTokens }
        }
    }

    public var specsModelRun: SpecsModelRun? {
        guard let m = specsModel else { return nil }
        var replay = self
        replay.specsModel = nil
        replay.specsModelFile = nil
        replay.source = .trace
        return SpecsModelRun(
            model: m, rule: .init(width: beamWidth, threshold: rejectionThreshold, switchBack: switchBackThreshold),
            replay: replay)
    }

    public func check(trace: Trace) throws {
        guard source == .trace, specsModel == nil else { return }
        guard trace.hasSteps, !trace.stepScores.isEmpty, !trace.stepRewards.isEmpty else {
            throw HandoffError.input(
                "policy specs with acceptance_from: trace needs per-candidate step_scores and step_rewards in the trace (trace synth: set trace.synthetic.step_tokens_mean and step_candidates), or acceptance_from: rate",
                field: "policy.acceptance_from")
        }
        guard trace.candidates >= beamWidth else {
            throw HandoffError.input(
                "beam_width \(beamWidth) needs \(beamWidth) candidates per step, but the trace records \(trace.candidates); record more (trace.synthetic.step_candidates) or lower beam_width",
                field: "policy.beam_width")
        }
    }

    /// Uniform in [0, 1) from (seed, request, step, salt: candidate + 1, or 0 for the switch-back draw).
    func uniform(_ r: Int, _ j: Int, _ salt: UInt64) -> Double { SeededHash.uniform(seed, r, j, salt) }

    /// Does some draft candidate of step `j` (global index `g` when recorded) pass?
    func accepted(trace: Trace, request r: Int, step j: Int, global g: Int) -> Bool {
        switch source {
        case .trace: return (0..<beamWidth).contains { trace.stepScore(step: g, candidate: $0) >= rejectionThreshold }
        case .rate: return (0..<beamWidth).contains { uniform(r, j, UInt64($0) + 1) < acceptance }
        }
    }

    /// Does the best target candidate of step `j` earn the way back to drafting?
    func switchesBack(trace: Trace, request r: Int, step j: Int, global g: Int) -> Bool {
        switch source {
        case .trace: return (0..<beamWidth).contains { trace.stepReward(step: g, candidate: $0) > switchBackThreshold }
        case .rate: return uniform(r, j, 0) < switchBackRate
        }
    }

    /// The step lengths of request `r`: the trace's steps, or `step_tokens` chunks.
    func stepLengths(trace: Trace, request r: Int) -> [Int] {
        let n = trace.outputTokens(r)
        if trace.hasSteps {
            var prev = 0
            return trace.stepBoundaries(r).map { b in
                defer { prev = Int(b) }
                return Int(b) - prev
            }
        }
        return stride(from: 0, to: n, by: stepTokens).map { min(stepTokens, n - $0) }
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        let n = beamWidth
        var drafting = true
        let first = trace.stepOffsets[r]
        for (j, len) in stepLengths(trace: trace, request: r).enumerated() where len > 0 {
            let g = first + j
            if drafting {
                segments.append(.draft(role: 0, tokens: len, width: n))
                let ok = accepted(trace: trace, request: r, step: j, global: g)
                // Kept: emitted, other branches pruned. Rejected: the step leaves the context too.
                let last = Segment.score(role: hasPRM ? 2 : 1, candidates: n, tokens: len, prompt: scorePromptTokens)
                    .rollingBack(ok ? 0 : len).pruning().revealing(ok ? len : 0)
                if hasPRM { segments.append(.score(role: 1, candidates: n, tokens: len, prompt: scorePromptTokens).joiningNext()) }
                segments.append(last)
                if ok { continue }
                drafting = false
            }
            // The target samples n candidate steps; the reward model picks one.
            if hasPRM {
                segments.append(.draft(role: 1, tokens: len, width: n))
                segments.append(.score(role: 2, candidates: n, tokens: len, prompt: scorePromptTokens).pruning().revealing(len))
            } else {
                segments.append(.draft(role: 1, tokens: len, width: n))
                segments.append(.score(role: 1, candidates: n, tokens: len, prompt: scorePromptTokens).pruning().revealing(len))
            }
            drafting = switchesBack(trace: trace, request: r, step: j, global: g)
        }
    }

    public var parameters: [(String, JSONValue)] {
        [
            ("name", .string(name)), ("beam_width", .number(Double(beamWidth))),
            ("rejection_threshold", .number(rejectionThreshold)),
            ("switch_back_threshold", .number(switchBackThreshold)), ("acceptance_from", .string(source.rawValue)),
            ("acceptance", .number(acceptance)), ("switch_back_rate", .number(switchBackRate)),
            ("acceptance_seed", .number(Double(seed))),
            ("step_tokens", .number(Double(stepTokens))), ("reward_tier", .string(rewardTier)),
            ("score_prompt_tokens", .number(Double(scorePromptTokens)))
        ] + (specsModelFile.map { [("specs_model", .string($0))] } ?? [])
    }
}

extension SpecsPolicy {
    public static let policyNames = ["specs"]
    public static let fields = [
        "beam_width", "rejection_threshold", "switch_back_threshold", "acceptance_from", "acceptance",
        "switch_back_rate", "acceptance_seed", "step_tokens", "reward_tier", "score_prompt_tokens", "specs_model"
    ]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try SpecsPolicy(r) }
}
