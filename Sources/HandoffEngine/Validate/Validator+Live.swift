import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// A request run for real: its policy's live execution, call by call (`Validator.runLive`).
extension Validator {
    /// Runs request `r` for real.
    func execute(_ r: Int, epoch: Int, start: Double, worker: Int) async throws -> MeasuredRequest {
        let q = trace.requests[r]
        let natural = lengths == .natural
        let budget = natural ? maxTokens : trace.outputTokens(r)
        let prompt = q.prompt!
        // Prompts are formatted (llama.cpp /apply-template) before the clock starts: a deployment
        // formats them in the frontend, not on the model server's time.
        guard let live else { throw HandoffError.input("policy \(policyName) cannot run live", field: "policy.name") }
        var formatted: [String: String] = [:]
        for tier in live.roles.map({ scenario.policy.roles[$0] }) {
            formatted[tier] = try await PromptTemplate(rawValue: spec(tier).template)!.format(
                prompt, client: try client(tier))
        }
        var run = LiveRun(
            t0: Monotonic.now(), promptTokens: q.promptTokens, budget: budget, natural: natural, worker: worker)
        try await runLive(live, formatted: formatted, &run)
        let end = Monotonic.now()
        let correct = q.answer.map { PromptSet.isCorrect(output: run.text, reference: $0) }
        var m = MeasuredRequest(
            index: r, id: q.id, epoch: epoch, startS: start, ttftS: run.first ?? (end - run.t0), e2elS: end - run.t0,
            promptTokens: run.promptTokens, difficulty: run.d, largeTokens: run.largeTokens, handoffs: run.handoffs,
            discardedTokens: run.discarded, text: run.text, correct: correct)
        m.calls = run.calls
        return m
    }

    /// What one request's live run has produced so far.
    struct LiveRun {
        let t0: Double
        var promptTokens: Int
        let budget: Int
        let natural: Bool
        let worker: Int
        var first: Double?
        var d: [Float] = []
        var text = ""
        var largeTokens = 0, handoffs = 0, discarded = 0
        var calls: [JSONValue] = []

        init(t0: Double, promptTokens: Int, budget: Int, natural: Bool, worker: Int) {
            self.t0 = t0
            self.promptTokens = promptTokens
            self.budget = budget
            self.natural = natural
            self.worker = worker
        }

        /// Notes a call's first token (the request's, if it is the first) and its server timings.
        mutating func stamp(_ res: CompletionResult, sentAt: Double, tier: String = "") {
            if first == nil, let t = res.tokens.first?.at { first = sentAt + t - t0 }
            if let t = res.timings, case .object(var o) = t.json {
                o.insert(("tier", .string(tier)), at: 0)
                o.append(("wall_ms", .number(round3(res.duration * 1000))))
                calls.append(.object(o))
            }
        }

        /// A call's kept tokens: their difficulties (the server's, or 1 for a large model's, the
        /// first one replaced by the crossing token's when the call says so) and the offloaded count.
        mutating func record(_ tokens: [StreamedToken], _ call: LiveCall) {
            guard !tokens.isEmpty else { return }
            if call.measuresDifficulty {
                d += tokens.map { Float($0.difficulty ?? 0) }
            } else {
                d += [Float](repeating: 1, count: tokens.count)
            }
            if let first = call.firstDifficulty { d[d.count - tokens.count] = first }
            if call.offloaded { largeTokens += tokens.count }
        }

        /// The prompt's token count as the server counted it (cached prefix included).
        mutating func countPrompt(_ res: CompletionResult) {
            if let t = res.timings {
                promptTokens = t.promptTokens + t.cachedTokens
            } else if let p = res.promptTokens {
                promptTokens = p
            }
        }
    }

    /// Runs one request as the policy's live execution says, call by call: each call streams from
    /// the server of its role, the text so far after the role's formatted prompt, greedy. A call
    /// with `stopAbove` stops at the first token whose difficulty crosses it and drops that token.
    /// A role's first call of the request sends its prompt uncached (no prefix shared across
    /// requests, as the simulator assumes); its later calls reuse the request's own context.
    func runLive(_ live: any LiveExecution, formatted: [String: String], _ run: inout LiveRun) async throws {
        var calls: [LiveCallResult] = []
        var produced = 0  // output tokens kept
        while let call = live.next(after: calls, produced: produced, budget: run.budget) {
            let tier = scenario.policy.roles[call.role]
            let s = spec(tier)
            var req = CompletionRequest(
                prompt: formatted[tier]! + run.text, maxTokens: call.maxTokens,
                topLogprobs: call.measuresDifficulty ? s.topLogprobs : 0, ignoreEOS: s.ignoreEOS && !run.natural)
            req.temperature = 0
            req.cachePrompt = calls.contains { $0.call.role == call.role }
            req.slot = s.pinSlots ? run.worker : nil
            let crossed = Flag()
            let sent = Monotonic.now()
            var res: CompletionResult
            if let bound = call.stopAbove {
                res = try await client(tier).complete(req) { tok, _ in
                    guard (tok.difficulty ?? 0) > bound else { return true }
                    crossed.set(Float(tok.difficulty!))
                    return false
                }
            } else {
                res = try await client(tier).complete(req)
            }
            if calls.isEmpty { run.countPrompt(res) }
            if crossed.value != nil {
                res.tokens.removeLast()
                run.discarded += 1
            }
            run.stamp(res, sentAt: sent, tier: tier)
            run.text += res.text
            run.record(res.tokens, call)
            produced += res.tokens.count
            calls.append(
                LiveCallResult(
                    call: call, tokens: res.tokens.count, crossed: crossed.value,
                    finished: run.natural && res.finishReason == "stop"))
        }
        run.handoffs = live.handoffs(calls)
    }
}
