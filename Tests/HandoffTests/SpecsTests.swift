import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `specs`: beams of draft steps scored by the target's prefill and a PRM in parallel.
final class SpecsTests: XCTestCase {
    /// Prompt 100, two steps of 10 tokens. Step 0: candidate 0 scores 0.9 ≥ 0.75 (kept); step 1:
    /// both candidates score < 0.75 (the target takes over; its best reward 0.9 > 0.8).
    static let trace =
        #"{"id":"s","prompt_tokens":100,"output_tokens":20,"steps":[10,20],"step_scores":[[0.9,0.2],[0.1,0.3]],"step_rewards":[[0,0],[0.9,0.5]]}"#

    /// The hand-computable scenario (SingleRequestTests) plus a PRM tier: f=1, a=0.05, b=10.
    func run(
        _ policy: String, trace: String = trace, prm: Bool = true, _ overrides: [String] = []
    ) throws
        -> SimulationResult
    {
        let dir = tempDir()
        try (trace + "\n").write(toFile: dir + "/t.jsonl", atomically: true, encoding: .utf8)
        var yaml = handComputableScenarioYAML(trace: dir + "/t.jsonl", policy: policy)
        if prm {
            yaml = yaml.replacingOccurrences(
                of: "models:\n", with: "models:\n  prm: {name: DeepSeek-R1-Distill-Qwen-1.5B}\n"
            )
            .replacingOccurrences(
                of: "tiers:\n",
                with:
                    "tiers:\n  prm: {gpu: A100-SXM-80GB, latency: {kind: linear, fixed_ms: 1, prefill_ms_per_token: 0.05, decode_ms_per_seq: 10}}\n"
            )
        }
        return try Simulation.run(try scenario(yaml, overrides))
    }

    /// Step 0: the draft prefills 100 (1 + 10 = 11 ms, first token of both branches) and decodes 9
    /// more with 2 branches (9 × (1 + 10·2) = 189): 200 ms. Target and PRM score 110 + 10 (the
    /// other branch) tokens in parallel, 5 ms away: target 2 + 0.2·120 = 26, PRM 1 + 0.05·120 = 7;
    /// the later one ends at 231, the step is emitted 5 ms later: TTFT 236. Every tier prunes to the
    /// context (110). Step 1: 5 ms back; the draft has all 110 cached, decodes 10 × 21 = 210 (446);
    /// scoring 20 tokens: target 6, PRM 2, 5 ms away (457). Rejected: the step leaves the context.
    /// The target (still holding 110) decodes 2 branches of 10: 10 × (2 + 30·2) = 620 (1077); the PRM,
    /// 5 ms away, scores 20 tokens in 2 ms (1084); 5 ms back: 1089.
    func testSingleRequestHandComputed() throws {
        let r = try run(
            "name: specs, beam_width: 2, rejection_threshold: 0.75, switch_back_threshold: 0.8, acceptance_from: trace")
        let q = r.outcome.requests[0]
        XCTAssertEqual(q.ttftS * 1000, 236, accuracy: 1e-9)
        XCTAssertEqual(q.e2elS * 1000, 1089, accuracy: 1e-9)
        XCTAssertEqual(q.outputTokens, 20)
        XCTAssertEqual(q.offloadedTokens, 10)
        XCTAssertEqual(q.handoffs, 6)  // 2 per scoring group (two of them), back to the draft, to the PRM
        // Branches are in the KV: every tier peaks at 110 context + 2 branches of 10.
        XCTAssertEqual(r.outcome.tiers.map(\.peakKVTokens), [130, 130, 130].map { $0 })
        // Decode work: draft 2 × 20, target 2 × 10.
        XCTAssertEqual(r.outcome.tiers.first { $0.name == "small" }!.generatedTokens, 40)
        XCTAssertEqual(r.outcome.tiers.first { $0.name == "large" }!.generatedTokens, 20)
    }

    /// The cache models with the figures two llama-servers reported (Reports/specs-llamacpp: a
    /// 31-token prompt, 4 candidates of 16 tokens, candidate c in slot c). Shared blocks: the target
    /// prefills the prompt and kept candidate once plus 3 other candidates (95), then 4·16 = 64 a
    /// step. Per slot: every slot reads the prompt and its candidate (4·47 = 188; measured 187),
    /// then slot 0 its new candidate and slots 1–3 the kept step again plus their own: 16 + 3·32 =
    /// 112 (measured 108–112). The draft: 4·31 = 124 (measured 124), then the kept step in slots 1–3:
    /// 48 (measured 38–49).
    func testPrefixCacheModelsGiveTheMeasuredPrefill() {
        let shared = SpecsValidation.modelPrefill(prompt: 31, steps: 4, n: 4, l: 16, draft: .shared, target: .shared)
        XCTAssertEqual(shared.score, [95, 64, 64, 64])
        XCTAssertEqual(shared.draft, [31, 0, 0, 0])
        let slots = SpecsValidation.modelPrefill(prompt: 31, steps: 4, n: 4, l: 16, draft: .per_slot, target: .per_slot)
        XCTAssertEqual(slots.score, [188, 112, 112, 112])
        XCTAssertEqual(slots.draft, [124, 48, 48, 48])
        // Width 1 is the same under both; a sequence that lost its KV re-reads from where it has it.
        XCTAssertEqual(
            PrefixCache.per_slot.branchPrefill(context: 50, kv: 20, width: 1, candidateTokens: 0, base: 0).tokens, 30)
        XCTAssertEqual(
            PrefixCache.per_slot.branchPrefill(context: 63, kv: 10, width: 4, candidateTokens: 16, base: 31).tokens,
            53 + 48 + 3 * 37)
    }

    /// The simulator charges the copies: the same request under per-slot caches prefills 3·31 + 3·3·16
    /// = 237 more tokens on each tier. Step 1 (TTFT): the draft prefills 124 instead of 31 tokens
    /// (+9.3 ms at 0.1 ms a token) and the target 188 instead of 95 (+18.6 ms): +27.9 ms. Each later
    /// step: the target scores 48 more tokens (+9.6 ms); the draft, which under shared blocks holds
    /// the whole context and decodes all 16 tokens (16 × (1 + 10·4) = 656 ms), now prefills the kept
    /// step in slots 1–3 (1 + 0.1·48 = 5.8 ms), which gives every branch its first token, and
    /// decodes 15 (615 ms): −35.2 ms. E2EL: 27.9 + 3 · (9.6 − 35.2) = −48.9 ms.
    func testPerSlotCachesChargeTheCopies() throws {
        let trace = #"{"id":"p","prompt_tokens":31,"output_tokens":64,"steps":[16,32,48,64]}"#
        let policy = "name: specs, beam_width: 4, acceptance_from: rate, acceptance: 1, reward_tier: large"
        let shared = try run(policy, trace: trace, prm: false)
        let dir = tempDir()
        try (trace + "\n").write(toFile: dir + "/t.jsonl", atomically: true, encoding: .utf8)
        let yaml = handComputableScenarioYAML(trace: dir + "/t.jsonl", policy: policy)
            .replacingOccurrences(
                of: "decode_ms_per_seq: 10}}", with: "decode_ms_per_seq: 10}, prefix_cache: per_slot}"
            )
            .replacingOccurrences(
                of: "decode_ms_per_seq: 30}}", with: "decode_ms_per_seq: 30}, prefix_cache: per_slot}")
        let slots = try Simulation.run(try scenario(yaml))
        let prefilled = { (r: SimulationResult, t: String) in r.outcome.tiers.first { $0.name == t }!.prefilledTokens }
        XCTAssertEqual(prefilled(shared, "large"), 95 + 3 * 64)
        XCTAssertEqual(prefilled(slots, "large"), 188 + 3 * 112)
        XCTAssertEqual(prefilled(slots, "small") - prefilled(shared, "small"), 237)
        XCTAssertEqual(
            (slots.outcome.requests[0].ttftS - shared.outcome.requests[0].ttftS) * 1000, 27.9, accuracy: 1e-9)
        XCTAssertEqual(
            (slots.outcome.requests[0].e2elS - shared.outcome.requests[0].e2elS) * 1000, -48.9, accuracy: 1e-9)
        XCTAssertEqual(slots.outcome.requests[0].outputTokens, 64)
    }

    /// Beam width 1, every step accepted, no PRM (the target scores): plain draft decoding plus
    /// the scoring cost. Small-only takes 220 ms (prefill 11 + 19 × 11). Here, per step: 2 crossings
    /// of 5 ms and the target's prefill of what it has not seen (110 tokens: 24 ms; then 10: 4 ms);
    /// and on return the draft feeds its last token again as a 1-token prefill (1.1 ms) where
    /// small-only decodes (11 ms).
    func testBeamWidthOneAllAcceptedIsDraftDecodingPlusScoring() throws {
        let specs = try run(
            "name: specs, beam_width: 1, rejection_threshold: 0, acceptance_from: trace, reward_tier: large", prm: false
        )
        let small = try run("name: small-only", prm: false)
        XCTAssertEqual(small.outcome.requests[0].e2elS * 1000, 220, accuracy: 1e-9)
        let scoring = (2 + 0.2 * 110) + (2 + 0.2 * 10)
        let crossings = 4 * 5.0
        let refeed = 1.1 - 11
        XCTAssertEqual(specs.outcome.requests[0].e2elS * 1000, 220 + scoring + crossings + refeed, accuracy: 1e-9)
        XCTAssertEqual(specs.outcome.requests[0].offloadedTokens, 0)
        XCTAssertEqual(specs.summary.number(at: "accuracy.predicted"), small.summary.number(at: "accuracy.predicted"))
    }

    /// Rate mode: acceptance 1 never falls back; acceptance 0 makes the target generate every step.
    /// Verified drafts earn the verifier's credit: every step accepted by the target's and the
    /// PRM's scores, small wrong and large right alone: accuracy ν (difficulties all 0, so the
    /// weight is the credited token share: ν · 20 / 20).
    func testVerifiedDraftsEarnTheVerifiersCredit() throws {
        let labelled =
            #"{"id":"s","prompt_tokens":100,"output_tokens":20,"steps":[10,20],"step_scores":[[0.9,0.2],[0.9,0.3]],"step_rewards":[[0,0],[0,0]],"small_correct":false,"large_correct":true}"#
        for nu in [1.0, 0.5, 0.0] {
            let r = try run(
                "name: specs, beam_width: 2, rejection_threshold: 0.75, acceptance_from: trace", trace: labelled,
                ["accuracy.verified_draft_credit=\(nu)"])
            XCTAssertEqual(r.outcome.requests[0].offloadedTokens, 0, "both steps are drafts")
            XCTAssertEqual(try XCTUnwrap(r.summary.number(at: "accuracy.predicted")), nu, accuracy: 1e-12, "ν = \(nu)")
        }
    }

    func testAcceptanceRateEnds() throws {
        let all = try run("name: specs, beam_width: 4, acceptance_from: rate, acceptance: 1")
        XCTAssertEqual(all.outcome.requests[0].offloadedTokens, 0)
        let none = try run("name: specs, beam_width: 4, acceptance_from: rate, acceptance: 0, switch_back_rate: 1")
        XCTAssertEqual(none.outcome.requests[0].offloadedTokens, 20)
        XCTAssertEqual(none.outcome.requests[0].outputTokens, 20)
    }

    /// The trace must record as many candidates as the beam is wide.
    func testBeamWiderThanRecordedCandidatesIsAnError() throws {
        XCTAssertThrowsError(try run("name: specs, beam_width: 4, acceptance_from: trace")) { e in
            XCTAssertTrue("\(e)".contains("beam_width 4 needs 4 candidates per step, but the trace records 2"), "\(e)")
        }
    }

    /// Memory: the three models' weights and KV are each accounted on their tier.
    func testMemoryCoversEveryResidentModel() throws {
        let r = try Simulation.run(
            try ScenarioLoader.load(
                path: packageRoot + "/Scenarios/specs-math500.yaml",
                overrides: ["trace.synthetic.requests=40"]))
        let gib = 1_073_741_824.0
        for (tier, params) in [("small", 1.54), ("large", 7.6), ("prm", 1.54)] {
            XCTAssertEqual(
                r.summary.number(at: "memory_gib.\(tier).weights")!, params * 1e9 * 2 / gib, accuracy: 1e-9, tier)
            XCTAssertGreaterThan(r.summary.number(at: "memory_gib.\(tier).kv_peak_tokens")!, 0, tier)
            XCTAssertGreaterThan(r.summary.number(at: "cost_usd.by_tier.\(tier)")!, 0, tier)
        }
    }

    /// Under memory pressure every request still gets exactly its tokens (branches, pruning and
    /// parallel groups conserve them), KV never exceeds capacity and nothing stalls.
    /// `reward_tier: large`: the target scores the candidates it sampled itself. It holds their KV, so
    /// a likelihood score recomputes one token (2 + 0.2 = 2.2 ms after its 620 ms decode: the request
    /// of 20 tokens ends at 1084.2 ms, where it once stalled after its first step). A judge reading
    /// `score_prompt_tokens` = 50 per candidate prefills 2 × 50 more tokens at each of the three scorings
    /// (0.2 ms each): +20 + 20 + (22 − 2.2) = +59.8 ms.
    func testTargetScoresItsOwnCandidates() throws {
        let policy =
            "name: specs, beam_width: 2, rejection_threshold: 0.75, switch_back_threshold: 0.8, acceptance_from: trace, reward_tier: large"
        let plain = try run(policy, prm: false).outcome.requests[0]
        XCTAssertFalse(plain.failed)
        XCTAssertEqual(plain.outputTokens, 20)
        XCTAssertEqual(plain.e2elS * 1000, 1084.2, accuracy: 1e-6)
        let judged = try run(policy, prm: false, ["policy.score_prompt_tokens=50"]).outcome.requests[0]
        XCTAssertEqual((judged.e2elS - plain.e2elS) * 1000, 59.8, accuracy: 1e-6)
    }

    func testConservationUnderLoad() throws {
        for width in [1, 4, 16] {
            let sc = try ScenarioLoader.load(
                path: packageRoot + "/Scenarios/specs-math500.yaml",
                overrides: [
                    "trace.synthetic.requests=80", "traffic.rate_rps=4", "policy.beam_width=\(width)",
                    "tiers.small.kv_capacity_tokens=12000", "tiers.prm.kv_capacity_tokens=9000"
                ])
            let trace = try Simulation.loadTrace(sc)
            let o = try Simulation.run(sc, trace: trace, checkingInvariants: true).outcome
            XCTAssertEqual(o.stalledRequests, 0)
            XCTAssertFalse(o.kvOverflow)
            XCTAssertFalse(o.clockWentBackwards)
            for q in o.requests {
                XCTAssertFalse(q.failed, "width \(width) request \(q.id)")
                XCTAssertEqual(q.outputTokens, trace.outputTokens(q.traceIndex))
            }
            for (t, tier) in sc.tiers.enumerated() {
                XCTAssertLessThanOrEqual(o.tiers[t].peakKVTokens, tier.kvCapacityTokens)
            }
            if width == 16 { XCTAssertGreaterThan(o.tiers.reduce(0) { $0 + $1.preemptions + $1.evictions }, 0) }
        }
    }
}

/// Per-candidate step records in both trace forms and from `trace synth`.
final class StepCandidateTraceTests: XCTestCase {
    func testRoundTripThroughBothForms() throws {
        let t = try TraceJSONL.parse(SpecsTests.trace + "\n", file: "t.jsonl")
        XCTAssertEqual(t.candidates, 2)
        XCTAssertEqual(t.stepScore(step: 1, candidate: 1), Double(Float(0.3)))
        XCTAssertEqual(t.stepReward(step: 1, candidate: 0), Double(Float(0.9)))
        let dir = tempDir() + "/col"
        try TraceColumnar.write(t, to: dir, dtype: .f4)
        let c = try TraceColumnar.read(path: dir)
        XCTAssertEqual(c.stepScores, t.stepScores)
        XCTAssertEqual(c.stepRewards, t.stepRewards)
        XCTAssertEqual(TraceJSONL.line(c, 0), TraceJSONL.line(t, 0))
    }

    func testErrorsNameLineAndField() throws {
        let ragged = #"{"prompt_tokens":1,"output_tokens":4,"steps":[2,4],"step_scores":[[0.1,0.2],[0.3]]}"#
        XCTAssertThrowsError(try TraceJSONL.parse(ragged + "\n", file: "t.jsonl")) { e in
            XCTAssertTrue(
                "\(e)".contains("t.jsonl:1") && "\(e)".contains("step_scores[1]")
                    && "\(e)".contains("K must be the same"), "\(e)")
        }
        let rows = #"{"prompt_tokens":1,"output_tokens":4,"steps":[2,4],"step_scores":[[0.1]]}"#
        XCTAssertThrowsError(try TraceJSONL.parse(rows + "\n", file: "t.jsonl")) { e in
            XCTAssertTrue("\(e)".contains("has 1 rows but the request has 2 steps"), "\(e)")
        }
        let missing =
            #"{"prompt_tokens":1,"output_tokens":2,"steps":[2],"step_scores":[[0.5]]}"# + "\n"
            + #"{"prompt_tokens":1,"output_tokens":2,"steps":[2]}"#
        XCTAssertThrowsError(try TraceJSONL.parse(missing + "\n", file: "t.jsonl")) { e in
            XCTAssertTrue("\(e)".contains("t.jsonl:2") && "\(e)".contains("line 1 records step_scores"), "\(e)")
        }
    }

    /// Candidates come from their own stream: the tokens are those of the same trace without them;
    /// scores follow the synthetic law (clamp(1 − mean difficulty + σz, 0, 1)) on average.
    func testSynthAddsCandidatesWithoutChangingTokens() throws {
        var spec = SyntheticTraceSpec()
        spec.requests = 50
        spec.stepTokensMean = 40
        let plain = spec.generate()
        spec.stepCandidates = 8
        let t = spec.generate()
        XCTAssertEqual(t.steps, plain.steps)
        XCTAssertEqual(
            (0..<t.difficulty.count).map { t.difficulty[$0] }, (0..<plain.difficulty.count).map { plain.difficulty[$0] }
        )
        XCTAssertEqual(t.stepScores.count, t.steps.count * 8)
        XCTAssertEqual(t.stepRewards.count, t.steps.count * 8)
        XCTAssertTrue(t.stepScores.allSatisfy { $0 >= 0 && $0 <= 1 })
        // Mean score against its expectation E[clamp(1 − d̄ + σz, 0, 1)] = m(0) − m(1) with
        // m(a) = E[max(Y − a, 0)] = (μ − a)Φ((μ − a)/σ) + σφ((μ − a)/σ), Y ~ N(μ = 1 − d̄, σ²).
        func m(_ mu: Double, _ a: Double) -> Double {
            let x = (mu - a) / 0.15
            return (mu - a) * 0.5 * erfc(-x / 2.0.squareRoot()) + 0.15 * exp(-x * x / 2) / (2 * Double.pi).squareRoot()
        }
        var diff = 0.0
        var k = 0
        for r in 0..<t.count {
            var prev = 0
            for j in t.stepOffsets[r]..<t.stepOffsets[r + 1] {
                let end = Int(t.steps[j])
                let dbar =
                    (prev..<end).reduce(0.0) { $0 + Double(t.difficulty[t.offsets[r] + $1]) } / Double(end - prev)
                for c in 0..<8 {
                    diff += t.stepScore(step: j, candidate: c) - (m(1 - dbar, 0) - m(1 - dbar, 1))
                    k += 1
                }
                prev = end
            }
        }
        XCTAssertGreaterThan(k, 10_000)
        XCTAssertEqual(diff / Double(k), 0, accuracy: 0.005)  // standard error ≈ 0.15 / √k ≈ 0.001
    }
}
