import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

extension PromptTemplate {
    public func format(_ text: String, client: OpenAIClient) async throws -> String {
        switch self {
        case .raw: return text
        case .chatml: return "<|im_start|>user\n\(text)<|im_end|>\n<|im_start|>assistant\n"
        case .server:
            let v = try await client.postJSON(
                "apply-template",
                .object([("messages", .array([.object([("role", .string("user")), ("content", .string(text))])]))]))
            guard case .string(let p)? = v["prompt"] else {
                throw EngineError.malformed(
                    url: client.base.absoluteString + "/apply-template", event: JSONWriter.write(v),
                    reason: "no 'prompt' string")
            }
            return p
        }
    }
}

/// `handoff record`: prompts through the small model's server, one trace line per prompt.
///
/// Difficulty of a generated token = 1 − p(top-1), with p the probability of the most likely
/// token at that position from the server's top-k log-probabilities (greedy decoding, so the
/// generated token is the top-1). 0 means the model was certain; values near 1 mean the mass was
/// spread. `measured` keeps the per-token arrival times (ms after the request was sent), TTFT,
/// end-to-end latency, the server's `timings`, the generated text and whether it was correct.
///
/// Generation ends naturally: at the model's end of sequence or at `maxTokens`. With a
/// `labelClient` (the large model's server), every prompt is also run there alone, greedy, with
/// the same cap: its correctness becomes `large_correct`, its length `large_output_tokens`, and its
/// text, latency and timings go under `measured.large`. Both outcome labels then come from real
/// runs, which the accuracy and closed-loop models need.
public struct Recorder: Sendable {
    public var client: OpenAIClient
    public var labelClient: OpenAIClient?
    public var labelTemplate = PromptTemplate.server
    public var maxTokens = 256
    public var topK = 5
    public var concurrency = 1
    public var template = PromptTemplate.server

    public init(client: OpenAIClient) { self.client = client }

    /// Records every prompt; `progress(done, total, tokens)` is called after each.
    public func record(
        _ prompts: [Prompt], progress: @escaping @Sendable (Int, Int, Int) -> Void = { _, _, _ in }
    ) async throws -> Trace {
        var results = [(TraceRequest, [Float])?](repeating: nil, count: prompts.count)
        var next = 0
        var done = 0
        var tokens = 0
        try await withThrowingTaskGroup(of: (Int, TraceRequest, [Float]).self) { group in
            func launch() {
                guard next < prompts.count else { return }
                let i = next
                next += 1
                group.addTask {
                    let (r, d) = try await self.one(prompts[i])
                    return (i, r, d)
                }
            }
            for _ in 0..<max(1, concurrency) { launch() }
            while let (i, r, d) = try await group.next() {
                results[i] = (r, d)
                done += 1
                tokens += d.count
                progress(done, prompts.count, tokens)
                launch()
            }
        }
        var trace = TraceBuilder()
        for case (let r, let d)? in results { trace.append(r, difficulty: d) }
        return trace.build()
    }

    func one(_ p: Prompt) async throws -> (TraceRequest, [Float]) {
        let formatted = try await template.format(p.text, client: client)
        var req = CompletionRequest(prompt: formatted, maxTokens: maxTokens, topLogprobs: topK)
        req.temperature = 0
        let res = try await client.complete(req)
        guard !res.tokens.isEmpty else {
            throw HandoffError(
                "\(client.base.absoluteString) generated no tokens for prompt \(p.id) (finish_reason \(res.finishReason ?? "none"))",
                exitCode: 1)
        }
        var d: [Float] = []
        d.reserveCapacity(res.tokens.count)
        for (k, t) in res.tokens.enumerated() {
            guard let x = t.difficulty else {
                throw EngineError.malformed(
                    url: client.base.absoluteString, event: "token \(k) of prompt \(p.id)",
                    reason: "no log-probabilities; the server must support logprobs/top_logprobs"
                ).handoff
            }
            d.append(Float(x))
        }
        let promptTokens = res.timings.map { $0.promptTokens + $0.cachedTokens } ?? res.promptTokens ?? 0
        let text = res.text
        let correct = p.answer.map { PromptSet.isCorrect(output: text, reference: $0) }
        var m: [(String, JSONValue)] = [
            ("server", .string(client.base.absoluteString)),
            ("difficulty", .string("1-p(top1), top_logprobs=\(topK)")),
            ("ttft_ms", .number(round3(res.ttft! * 1000))),
            ("e2el_ms", .number(round3(res.duration * 1000))),
            ("token_ms", .numbers(res.tokens.map { round3($0.at * 1000) })),
            ("finish_reason", .string(res.finishReason ?? "")),
            ("text", .string(text))
        ]
        if let t = res.timings { m.append(("timings", t.json)) }
        var r = TraceRequest(
            id: p.id, promptTokens: promptTokens, smallCorrect: correct, prompt: p.text, answer: p.answer)
        r.heldOut = p.heldOut
        if let large = labelClient {
            var lr = CompletionRequest(
                prompt: try await labelTemplate.format(p.text, client: large), maxTokens: maxTokens)
            lr.temperature = 0
            let lres = try await large.complete(lr)
            let ltext = lres.text
            r.largeCorrect = p.answer.map { PromptSet.isCorrect(output: ltext, reference: $0) }
            r.largeOutputTokens = lres.timings?.predictedTokens ?? lres.completionTokens ?? lres.tokens.count
            var lm: [(String, JSONValue)] = [
                ("server", .string(large.base.absoluteString)),
                ("ttft_ms", .number(round3((lres.ttft ?? lres.duration) * 1000))),
                ("e2el_ms", .number(round3(lres.duration * 1000))),
                ("finish_reason", .string(lres.finishReason ?? "")),
                ("text", .string(ltext))
            ]
            if let t = lres.timings { lm.append(("timings", t.json)) }
            m.append(("large", .object(lm)))
        }
        r.measured = .object(m)
        return (r, d)
    }
}

@inline(__always) func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
