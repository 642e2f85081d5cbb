import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// One request run for real under a policy: what the client measured, and the realised token
/// stream (which tier generated each token, the small model's difficulty where it was scored).
public struct MeasuredRequest: Sendable {
    public var index: Int
    /// Which pass over the sample (`--repeats`), from 0.
    public var repeat_: Int = 0
    public var id: String
    /// Run segment (a resumed run starts a new one) and start time within it, seconds.
    public var epoch: Int
    public var startS: Double
    public var ttftS: Double
    public var e2elS: Double
    public var promptTokens: Int
    /// Realised stream (see `Validator`): difficulty per output token.
    public var difficulty: [Float]
    public var outputTokens: Int { difficulty.count }
    public var largeTokens: Int
    public var handoffs: Int
    /// Small-model tokens generated and thrown away because they crossed the threshold.
    public var discardedTokens: Int
    public var text: String
    public var correct: Bool?
    /// The servers' own timings of every call (tier, cache_n, prompt_n, prompt_ms, predicted_n, predicted_ms).
    public var calls: [JSONValue] = []

    var json: JSONValue {
        var o: [(String, JSONValue)] = [
            ("index", .number(Double(index))), ("repeat", .number(Double(repeat_))), ("id", .string(id)),
            ("epoch", .number(Double(epoch))),
            ("start_s", .number(startS)), ("ttft_s", .number(ttftS)), ("e2el_s", .number(e2elS)),
            ("prompt_tokens", .number(Double(promptTokens))), ("large_tokens", .number(Double(largeTokens))),
            ("handoffs", .number(Double(handoffs))), ("discarded_tokens", .number(Double(discardedTokens))),
            ("text", .string(text)), ("difficulty", .numbers(difficulty.map { Double($0) }))
        ]
        if let correct { o.append(("correct", .bool(correct))) }
        if !calls.isEmpty { o.append(("calls", .array(calls))) }
        return .object(o)
    }

    init(
        index: Int, id: String, epoch: Int, startS: Double, ttftS: Double, e2elS: Double, promptTokens: Int,
        difficulty: [Float],
        largeTokens: Int, handoffs: Int, discardedTokens: Int, text: String, correct: Bool?
    ) {
        self.index = index
        self.id = id
        self.epoch = epoch
        self.startS = startS
        self.ttftS = ttftS
        self.e2elS = e2elS
        self.promptTokens = promptTokens
        self.difficulty = difficulty
        self.largeTokens = largeTokens
        self.handoffs = handoffs
        self.discardedTokens = discardedTokens
        self.text = text
        self.correct = correct
    }

    init?(_ v: JSONValue) {
        func num(_ k: String) -> Double? {
            if case .number(let x)? = v[k] { return x }
            return nil
        }
        guard let index = num("index"), case .string(let id)? = v["id"], let epoch = num("epoch"),
            let start = num("start_s"),
            let ttft = num("ttft_s"), let e2el = num("e2el_s"), let pt = num("prompt_tokens"),
            let lt = num("large_tokens"),
            let h = num("handoffs"), let dt = num("discarded_tokens"), case .string(let text)? = v["text"]
        else { return nil }
        var d: [Float] = []
        switch v["difficulty"] {
        case .numbers(let xs)?: d = xs.map { Float($0) }
        default: return nil
        }
        var correct: Bool?
        if case .bool(let b)? = v["correct"] { correct = b }
        var calls: [JSONValue] = []
        if case .array(let a)? = v["calls"] { calls = a }
        self.init(
            index: Int(index), id: id, epoch: Int(epoch), startS: start, ttftS: ttft, e2elS: e2el,
            promptTokens: Int(pt),
            difficulty: d, largeTokens: Int(lt), handoffs: Int(h), discardedTokens: Int(dt), text: text,
            correct: correct)
        self.calls = calls
        if case .number(let x)? = v["repeat"] { repeat_ = Int(x) }
    }
}
