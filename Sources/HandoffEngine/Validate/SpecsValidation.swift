import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff validate-specs`: SPECS steps run for real on two llama-servers, against the
/// simulator's step latencies for the same requests.
///
/// Per request, `steps` steps of `step_tokens` = L tokens each: the draft server (models/small,
/// core 0, `--parallel n`) samples n candidate steps at once (n concurrent completions of L
/// tokens, temperature 1, distinct seeds, slot c for candidate c); then the target server
/// (models/large, core 1, `--parallel n`) scores every candidate by prefill only (n concurrent
/// completions of the context + candidate with `max_tokens` 1: the one token comes from the
/// prefill's logits, no decode step runs). Candidate 0 is kept, so the simulator runs the same
/// requests with `specs` at acceptance 1 and `reward_tier: large` (no PRM server: the machine has
/// two cores). Measured: wall time of each phase, and the prefill tokens the target reported.
public final class SpecsValidation: @unchecked Sendable {
    public struct Step: Sendable {
        public var draftMs: Double
        public var scoreMs: Double
        public var scorePrefillTokens: Int
        public var draftPrefillTokens: Int
    }
    public struct RequestRow: Sendable {
        public var id: String
        public var promptTokens: Int
        public var steps: [Step]
        public var predictedStepMs: [Double]
        /// Per step, the prefill tokens the simulator's cache model gives the draft and the target
        /// (`PrefixCache.branchPrefill` with the tiers' `prefix_cache`).
        public var modelDraftPrefill: [Int] = []
        public var modelScorePrefill: [Int] = []
    }

    /// The prefill tokens per step the cache models give a request of `prompt` tokens: `steps`
    /// steps of `n` candidates of `l` tokens, candidate 0 kept (the draft decodes them, the target
    /// scores them).
    public static func modelPrefill(
        prompt: Int, steps: Int, n: Int, l: Int, draft: PrefixCache, target: PrefixCache
    ) -> (draft: [Int], score: [Int]) {
        var context = prompt
        var draftKV = 0
        var targetKV = 0
        var draftBase = 0
        var targetBase = 0
        var d: [Int] = []
        var t: [Int] = []
        for _ in 0..<steps {
            let a = draft.branchPrefill(context: context, kv: draftKV, width: n, candidateTokens: 0, base: draftBase)
            d.append(a.tokens)
            draftBase = a.base
            context += l
            draftKV = context
            let b = target.branchPrefill(context: context, kv: targetKV, width: n, candidateTokens: l, base: targetBase)
            t.append(b.tokens)
            targetBase = b.base
            targetKV = context
        }
        return (d, t)
    }

    public let family: ScenarioFamily
    public let install: EngineInstall
    public let prompts: [Prompt]
    public let beamWidth: Int
    public let stepTokens: Int
    public let steps: Int
    public let port: Int
    public let outDir: String
    /// The files it writes in its folder.
    public static let fileNames: Set<String> = [
        "validation.json", "report.md", "server-draft.log", "server-target.log", "trace.jsonl"
    ]

    public init(
        family: ScenarioFamily, install: EngineInstall, prompts: [Prompt], beamWidth: Int, stepTokens: Int, steps: Int,
        port: Int, outDir: String
    ) {
        self.family = family
        self.install = install
        self.prompts = prompts
        self.beamWidth = beamWidth
        self.stepTokens = stepTokens
        self.steps = steps
        self.port = port
        self.outDir = outDir
    }

    /// n concurrent completions; returns the results in candidate order and the wall time in ms.
    static func concurrent(
        _ client: OpenAIClient, _ reqs: [CompletionRequest]
    ) async throws -> ([CompletionResult], Double) {
        let start = Date()
        let results = try await withThrowingTaskGroup(of: (Int, CompletionResult).self) { g in
            for (c, r) in reqs.enumerated() { g.addTask { (c, try await client.complete(r)) } }
            var out = [CompletionResult?](repeating: nil, count: reqs.count)
            for try await (c, r) in g { out[c] = r }
            return out.map { $0! }
        }
        return (results, Date().timeIntervalSince(start) * 1000)
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> [RequestRow] {
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let n = beamWidth
        progress("starting the draft and target llama-servers")
        let draft = try await LlamaServer.start(
            LlamaServer.Options(
                model: try install.model("small"), port: port, parallel: n, contextTokens: 2048 * n,
                threads: 1, cpus: "0"), install: install, logPath: outDir + "/server-draft.log")
        defer { draft.stop() }
        let target = try await LlamaServer.start(
            LlamaServer.Options(
                model: try install.model("large"), port: port + 1, parallel: n, contextTokens: 2048 * n,
                threads: 1, cpus: "1"), install: install, logPath: outDir + "/server-target.log")
        defer { target.stop() }
        let dc = try OpenAIClient(base: draft.url)
        let tc = try OpenAIClient(base: target.url)
        var rows: [RequestRow] = []
        var traceLines = ""
        for (k, p) in prompts.enumerated() {
            var context = p.text
            var row = RequestRow(id: p.id, promptTokens: 0, steps: [], predictedStepMs: [])
            for j in 0..<steps {
                progress("request \(k + 1)/\(prompts.count), step \(j + 1)/\(steps): \(n) drafts, \(n) scores")
                let drafts = (0..<n).map { c -> CompletionRequest in
                    var r = CompletionRequest(prompt: context, maxTokens: stepTokens, ignoreEOS: true)
                    r.temperature = 1
                    r.seed = UInt64(1 + c + n * j)
                    r.slot = c
                    r.cachePrompt = true
                    return r
                }
                let (cands, draftMs) = try await Self.concurrent(dc, drafts)
                if j == 0, let t = cands[0].timings { row.promptTokens = t.promptTokens + t.cachedTokens }
                let scores = cands.enumerated().map { c, cand -> CompletionRequest in
                    var r = CompletionRequest(prompt: context + cand.text, maxTokens: 1, ignoreEOS: true)
                    r.slot = c
                    r.cachePrompt = true
                    return r
                }
                let (scored, scoreMs) = try await Self.concurrent(tc, scores)
                row.steps.append(
                    Step(
                        draftMs: draftMs, scoreMs: scoreMs,
                        scorePrefillTokens: scored.reduce(0) { $0 + ($1.timings?.promptTokens ?? 0) },
                        draftPrefillTokens: cands.reduce(0) { $0 + ($1.timings?.promptTokens ?? 0) }))
                context += cands[0].text
            }
            let out = steps * stepTokens
            let stepList = (1...steps).map { String($0 * stepTokens) }.joined(separator: ",")
            traceLines +=
                #"{"id":"\#(p.id)","prompt_tokens":\#(row.promptTokens),"output_tokens":\#(out),"steps":[\#(stepList)]}"#
                + "\n"
            rows.append(row)
        }
        draft.stop()
        target.stop()
        let tracePath = outDir + "/trace.jsonl"
        try FileIO.writeAtomically(traceLines, to: tracePath)
        // The simulator: each request alone, every step accepted (candidate 0 kept), target (large) scoring.
        let sim = try family.run([
            "trace.file=\(URL(fileURLWithPath: tracePath).path)", "traffic.arrival=closed_loop",
            "traffic.concurrency=1",
            "policy.name=specs", "policy.beam_width=\(n)", "policy.acceptance_from=rate", "policy.acceptance=1",
            "policy.reward_tier=large"
        ])
        let sc = sim.scenario
        let draftCache = sc.tiers[sc.tierIndex(sc.policy.roles[0])!].prefixCache
        let targetCache = sc.tiers[sc.tierIndex(sc.policy.roles[1])!].prefixCache
        for k in rows.indices {
            (rows[k].modelDraftPrefill, rows[k].modelScorePrefill) = Self.modelPrefill(
                prompt: rows[k].promptTokens, steps: steps, n: n, l: stepTokens,
                draft: draftCache, target: targetCache)
        }
        for (k, q) in sim.outcome.requests.enumerated() where k < rows.count {
            // Step 1 ends with the first output (TTFT); the others share the rest equally (steps are equal).
            let rest = steps > 1 ? (q.e2elS - q.ttftS) * 1000 / Double(steps - 1) : 0
            rows[k].predictedStepMs = [q.ttftS * 1000] + Array(repeating: rest, count: steps - 1)
        }
        return rows
    }

    public static func json(_ rows: [RequestRow], beamWidth: Int, stepTokens: Int) -> JSONValue {
        let measured = rows.flatMap { $0.steps.map { $0.draftMs + $0.scoreMs } }
        let predicted = rows.flatMap(\.predictedStepMs)
        let later = rows.flatMap { $0.steps.dropFirst().map { $0.draftMs + $0.scoreMs } }
        let laterPred = rows.flatMap { $0.predictedStepMs.dropFirst() }
        return .object([
            ("beam_width", .number(Double(beamWidth))), ("step_tokens", .number(Double(stepTokens))),
            (
                "step_ms",
                .object([
                    ("measured_mean", .number(Statistics.mean(measured))),
                    ("predicted_mean", .number(Statistics.mean(predicted))),
                    ("error", .number(Statistics.mean(predicted) / Statistics.mean(measured) - 1)),
                    (
                        "later_steps_error",
                        laterPred.isEmpty ? .null : .number(Statistics.mean(laterPred) / Statistics.mean(later) - 1)
                    )
                ])
            ),
            (
                "requests",
                .array(
                    rows.map { r in
                        .object([
                            ("id", .string(r.id)), ("prompt_tokens", .number(Double(r.promptTokens))),
                            (
                                "steps",
                                .array(
                                    r.steps.indices.map { j in
                                        let s = r.steps[j]
                                        return .object([
                                            ("draft_ms", .number(s.draftMs)), ("score_ms", .number(s.scoreMs)),
                                            ("measured_ms", .number(s.draftMs + s.scoreMs)),
                                            ("predicted_ms", .number(r.predictedStepMs[j])),
                                            ("draft_prefill_tokens", .number(Double(s.draftPrefillTokens))),
                                            ("score_prefill_tokens", .number(Double(s.scorePrefillTokens))),
                                            ("model_draft_prefill_tokens", .number(Double(r.modelDraftPrefill[j]))),
                                            ("model_score_prefill_tokens", .number(Double(r.modelScorePrefill[j])))
                                        ])
                                    })
                            )
                        ])
                    })
            )
        ])
    }

    public static func table(_ rows: [RequestRow], beamWidth n: Int, stepTokens l: Int) -> String {
        var s =
            "| request | step | draft ms | score ms | measured ms | predicted ms | error | draft prefill tokens (measured / model) | target prefill tokens (measured / model) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            for (j, (st, p)) in zip(r.steps, r.predictedStepMs).enumerated() {
                let m = st.draftMs + st.scoreMs
                s += String(
                    format: "| %@ | %d | %.0f | %.0f | %.0f | %.0f | %+.1f%% | %d / %d | %d / %d |\n", r.id, j + 1,
                    st.draftMs, st.scoreMs, m, p, 100 * (p / m - 1),
                    st.draftPrefillTokens, r.modelDraftPrefill[j], st.scorePrefillTokens, r.modelScorePrefill[j])
            }
        }
        return s
    }
}
