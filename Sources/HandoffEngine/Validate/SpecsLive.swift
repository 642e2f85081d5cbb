import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// What a live SPECS cell runs per request (`handoff specs-loop`).
public enum SpecsArm: Sendable, Hashable {
    /// SPECS: the small model samples `width` candidate steps, the scorer rates them; the best is kept
    /// when its score is ≥ `threshold`, otherwise the large model samples `width` candidates for the
    /// step (the best kept) and keeps writing until a step's best score is > `switchBack`.
    case specs(width: Int, threshold: Double, switchBack: Double)
    /// Target beam search, the paper's baseline: every step is `width` large-model candidates, the
    /// scorer keeps the best.
    case targetBeam(width: Int)
    /// One tier alone, greedy, to its natural end or the cap: the small-only and large-only baselines.
    case greedy(tier: String)

    public var name: String {
        switch self {
        case .specs(let n, let t, let s):
            return "specs-w\(n)-t\(JSONWriter.number(t))" + (s == t ? "" : "-s\(JSONWriter.number(s))")
        case .targetBeam(let n): return "beam-w\(n)"
        case .greedy(let tier): return "\(tier)-only"
        }
    }

    public var width: Int {
        switch self {
        case .specs(let n, _, _), .targetBeam(let n): return n
        case .greedy: return 1
        }
    }
}

/// One candidate step as the server wrote it and the scorer rated it.
public struct SpecsCandidate: Sendable, Equatable {
    public var text: String
    public var tokens: Int
    /// The scorer's rating in [0, 1]; nil where nothing is scored (greedy baselines).
    public var score: Double?
    /// `delimiter` (a blank line), `eos` (the model ended the answer) or `limit` (the step's cap).
    public var end: String
}

/// One phase of a step: `width` candidates from one tier, then their scores.
public struct SpecsPhase: Sendable, Equatable {
    public var tier: String
    public var candidates: [SpecsCandidate]
    public var generateMs: Double
    public var scoreMs: Double
    /// The candidate with the highest score (the first on ties); 0 when nothing is scored.
    public var best: Int {
        var b = 0
        for (c, x) in candidates.enumerated() where (x.score ?? 0) > (candidates[b].score ?? 0) { b = c }
        return b
    }
    public var bestScore: Double { candidates[best].score ?? 0 }
}

/// One reasoning step: the draft phase (SPECS while drafting), the target phase (target steps, and
/// a rejected draft's replacement), and which one was emitted.
public struct SpecsStepRecord: Sendable, Equatable {
    public var draft: SpecsPhase?
    public var target: SpecsPhase?
    /// The emitted phase's candidate (the target's when there is one).
    public var emitted: SpecsCandidate { (target ?? draft!).candidates[(target ?? draft!).best] }
    /// A draft phase ran and its best candidate passed.
    public var accepted: Bool { draft != nil && target == nil }
}

/// One prompt run live by a `SpecsArm`.
public struct SpecsSample: Sendable, Equatable {
    public var index: Int
    public var id: String
    public var steps: [SpecsStepRecord]
    public var correct: Bool?
    /// Seconds from the cell's start to this request's start; first emitted token and end, after the start.
    public var startS: Double
    public var ttftS: Double
    public var e2elS: Double
    public var outputTokens: Int { steps.reduce(0) { $0 + $1.emitted.tokens } }
    public var text: String { steps.map(\.emitted.text).joined() }
    public var draftSteps: Int { steps.filter { $0.draft != nil }.count }
    public var acceptedSteps: Int { steps.filter(\.accepted).count }
    public var targetSteps: Int { steps.filter { $0.target != nil }.count }
}

/// The scorer of candidate steps on a server that returns no prompt log-probabilities (this
/// llama-server build ignores `echo`): the large model is asked, in its chat template, whether the
/// next step of the solution is correct, and the score is P(Yes) / (P(Yes) + P(No)) from its top
/// log-probabilities for the one answer token (a SpecReason-style verifier). Its cost is a prefill of
/// the step and a short question per candidate (the context is the slot's cached prefix) and one
/// decoded token: the shape of the paper's scoring by target prefill, plus the question's tokens.
public struct StepJudge: Sendable {
    public static let name = "large-judge"
    public static let description =
        "the large model asked whether the next step is correct; score = P(Yes)/(P(Yes)+P(No)) from its top-10 log-probabilities of one token (this llama-server returns no prompt log-probabilities, so the paper's likelihood-ratio score is not available)"
    public var client: OpenAIClient
    /// The chat template's text before and after the user message.
    var wrap: (String, String)
    public var topLogprobs = 10

    public static func make(client: OpenAIClient, template: PromptTemplate) async throws -> StepJudge {
        let marker = "\u{1}HANDOFF-BODY\u{1}"
        let t = try await template.format(marker, client: client)
        guard let r = t.range(of: marker) else {
            throw HandoffError("the judge's chat template dropped the message; cannot build judge prompts", exitCode: 1)
        }
        return StepJudge(client: client, wrap: (String(t[..<r.lowerBound]), String(t[r.upperBound...])))
    }

    public static func question(problem: String, solution: String, step: String) -> String {
        let so = solution.isEmpty ? "(nothing yet)\n" : solution
        return "Problem: \(problem)\n\nSolution so far:\n\(so)\nNext step:\n\(step)\n\nIs the next step correct? Answer Yes or No."
    }

    /// P(Yes) / (P(Yes) + P(No)) over the answer token's top alternatives (0.5 when neither appears).
    public static func yesShare(_ top: [TopToken]) -> Double {
        var yes = 0.0
        var no = 0.0
        for t in top {
            let w = t.token.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            if w.hasPrefix("yes") { yes += exp(t.logprob) } else if w.hasPrefix("no") { no += exp(t.logprob) }
        }
        return yes + no > 0 ? yes / (yes + no) : 0.5
    }

    public func score(problem: String, solution: String, step: String) async throws -> Double {
        var r = CompletionRequest(
            prompt: wrap.0 + Self.question(problem: problem, solution: solution, step: step) + wrap.1, maxTokens: 1,
            topLogprobs: topLogprobs)
        r.cachePrompt = true
        let res = try await client.complete(r)
        guard let t = res.tokens.first, !t.top.isEmpty else {
            throw EngineError.malformed(
                url: client.base.absoluteString, event: "judge answer", reason: "no top log-probabilities"
            ).handoff
        }
        return Self.yesShare(t.top)
    }
}
