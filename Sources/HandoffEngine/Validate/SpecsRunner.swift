import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// Runs one prompt live under a `SpecsArm` against the small and large servers.
///
/// A step ends at the first blank line after some text (the paper's step delimiter), at the model's
/// end of sequence, or at `stepTokens`; the request ends when the emitted step ended the answer or at
/// `maxTokens`. Candidates are sampled at `temperature` with a seed per (request, step, phase,
/// candidate), so a rerun asks the servers the same questions. The n candidates of a phase go to the
/// server at once (its slots decode them as one batch), then the n judge calls go to the large
/// server at once.
public struct SpecsRunner: Sendable {
    public var clients: [String: OpenAIClient]
    public var templates: [String: PromptTemplate]
    /// The scorer, made from the large server when a request first needs it (`ready()`): a rerun
    /// that only re-reads its journals needs no server.
    public var judge: StepJudge?
    public var stepTokens: Int
    public var maxTokens: Int
    public var temperature = 0.7
    public var seed: UInt64 = 1

    public init(
        clients: [String: OpenAIClient], templates: [String: PromptTemplate], judge: StepJudge? = nil, stepTokens: Int,
        maxTokens: Int
    ) {
        self.clients = clients
        self.templates = templates
        self.judge = judge
        self.stepTokens = stepTokens
        self.maxTokens = maxTokens
    }

    /// This runner with its judge made (asks the large server for its chat template once).
    public func ready() async throws -> SpecsRunner {
        guard judge == nil else { return self }
        var r = self
        r.judge = try await StepJudge.make(client: try client("large"), template: templates["large"] ?? .server)
        return r
    }

    func client(_ tier: String) throws -> OpenAIClient {
        guard let c = clients[tier] else { throw HandoffError.input("no server for tier '\(tier)'", field: "engine.\(tier).url") }
        return c
    }

    /// Runs `prompt` (trace request `index`); `t0` is the cell's start on the monotonic clock.
    public func run(_ arm: SpecsArm, prompt: Prompt, index: Int, t0: Double) async throws -> SpecsSample {
        let start = Monotonic.now()
        var prefix: [String: String] = [:]
        for tier in ["small", "large"] where clients[tier] != nil {
            prefix[tier] = try await (templates[tier] ?? .server).format(prompt.text, client: try client(tier))
        }
        var sample = SpecsSample(
            index: index, id: prompt.id, steps: [], correct: nil, startS: start - t0, ttftS: 0, e2elS: 0)
        if case .greedy(let tier) = arm {
            let g = Monotonic.now()
            let (c, ttft) = try await generate(tier: tier, context: prefix[tier]!, tokens: maxTokens, seed: nil, stepEnd: false)
            sample.steps = [SpecsStepRecord(draft: SpecsPhase(tier: tier, candidates: [c], generateMs: (Monotonic.now() - g) * 1000, scoreMs: 0))]
            sample.ttftS = ttft ?? (Monotonic.now() - start)
        } else {
            try await steps(arm, prompt: prompt, index: index, prefix: prefix, start: start, into: &sample)
        }
        sample.e2elS = Monotonic.now() - start
        sample.correct = prompt.answer.map { PromptSet.isCorrect(output: sample.text, reference: $0) }
        return sample
    }

    func steps(
        _ arm: SpecsArm, prompt: Prompt, index: Int, prefix: [String: String], start: Double,
        into sample: inout SpecsSample
    ) async throws {
        var drafting: Bool
        switch arm {
        case .specs: drafting = true
        default: drafting = false
        }
        var solution = ""
        var produced = 0
        let n = arm.width
        while produced < maxTokens {
            let cap = min(stepTokens, maxTokens - produced)
            let j = sample.steps.count
            var step = SpecsStepRecord()
            if drafting, case .specs(_, let tau, _) = arm {
                let d = try await phase(
                    "small", n: n, prefix: prefix, problem: prompt.text, solution: solution, cap: cap,
                    seed: (index, j, 0))
                step.draft = d
                drafting = d.bestScore >= tau
            }
            if !drafting {
                // Target beam search at width 1 has nothing to choose between: its one candidate is not scored.
                var scored = true
                if case .targetBeam(1) = arm { scored = false }
                let t = try await phase(
                    "large", n: n, prefix: prefix, problem: prompt.text, solution: solution, cap: cap,
                    seed: (index, j, 1), scored: scored)
                step.target = t
                if case .specs(_, _, let back) = arm { drafting = t.bestScore > back }
            }
            sample.steps.append(step)
            if j == 0 { sample.ttftS = Monotonic.now() - start }
            let e = step.emitted
            solution += e.text
            produced += e.tokens
            if e.end == "eos" || e.tokens == 0 { break }
        }
    }

    /// n candidates from `tier` at once, then n judge calls at once.
    func phase(
        _ tier: String, n: Int, prefix: [String: String], problem: String, solution: String, cap: Int,
        seed: (Int, Int, Int), scored: Bool = true
    ) async throws -> SpecsPhase {
        let g = Monotonic.now()
        let context = prefix[tier]! + solution
        let cands = try await withThrowingTaskGroup(of: (Int, SpecsCandidate).self) { group in
            for c in 0..<n {
                let s = UInt64(SeededHash.uniform(self.seed, seed.0, seed.1 * 2 + seed.2, UInt64(c) + 1) * 4_294_967_295)
                group.addTask { (c, try await self.generate(tier: tier, context: context, tokens: cap, seed: s, stepEnd: true).0) }
            }
            var out = [SpecsCandidate?](repeating: nil, count: n)
            for try await (c, x) in group { out[c] = x }
            return out.map { $0! }
        }
        let s0 = Monotonic.now()
        guard scored else { return SpecsPhase(tier: tier, candidates: cands, generateMs: (s0 - g) * 1000, scoreMs: 0) }
        let scores = try await withThrowingTaskGroup(of: (Int, Double).self) { group in
            for (c, x) in cands.enumerated() {
                group.addTask { (c, try await self.judge!.score(problem: problem, solution: solution, step: x.text)) }
            }
            var out = [Double](repeating: 0, count: n)
            for try await (c, x) in group { out[c] = x }
            return out
        }
        var scored = cands
        for c in 0..<n { scored[c].score = scores[c] }
        return SpecsPhase(
            tier: tier, candidates: scored, generateMs: (s0 - g) * 1000, scoreMs: (Monotonic.now() - s0) * 1000)
    }

    /// One completion of up to `tokens` tokens; with `stepEnd`, stopped at the first blank line after
    /// some text (kept, with its token). `seed` nil: greedy. Returns the candidate and its first token's time.
    func generate(
        tier: String, context: String, tokens: Int, seed: UInt64?, stepEnd: Bool
    ) async throws -> (SpecsCandidate, Double?) {
        var r = CompletionRequest(prompt: context, maxTokens: tokens)
        r.cachePrompt = true
        if let seed {
            r.temperature = temperature
            r.seed = seed
        }
        let seen = TextSoFar()
        let res = try await client(tier).complete(r) { t, _ in
            !(stepEnd && seen.add(t.text))
        }
        var text = res.text
        let n = res.stopped ? res.tokens.count : (res.completionTokens ?? res.tokens.count)
        var end = res.finishReason == "length" || n >= tokens ? "limit" : "eos"
        if res.stopped {
            end = "delimiter"
            if let cut = Self.stepEnd(text) { text = String(text[..<cut]) }
        }
        return (SpecsCandidate(text: text, tokens: n, score: nil, end: end), res.ttft)
    }

    /// The end of the first blank line that follows some non-blank text, if any.
    static func stepEnd(_ s: String) -> String.Index? {
        guard let first = s.firstIndex(where: { !$0.isWhitespace }) else { return nil }
        return s[first...].range(of: "\n\n")?.upperBound
    }
}

/// The text of a stream so far, from the delegate queue; `add` says whether a step has ended.
final class TextSoFar: @unchecked Sendable {
    private var s = ""
    func add(_ t: String) -> Bool {
        s += t
        return SpecsRunner.stepEnd(s) != nil
    }
}
