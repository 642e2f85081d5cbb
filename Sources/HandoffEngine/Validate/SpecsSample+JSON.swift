import Foundation
import HandoffSupport

/// A sample as one journal line (`OUT/runs/<cell>/samples.jsonl`) and back.
extension SpecsSample {
    var json: JSONValue {
        func phase(_ p: SpecsPhase) -> JSONValue {
            .object([
                ("tier", .string(p.tier)), ("generate_ms", .number(round3(p.generateMs))),
                ("score_ms", .number(round3(p.scoreMs))),
                (
                    "candidates",
                    .array(
                        p.candidates.map { c in
                            .object([
                                ("tokens", .number(Double(c.tokens))), ("score", c.score.map { .number($0) } ?? .null),
                                ("end", .string(c.end)), ("text", .string(c.text))
                            ])
                        })
                )
            ])
        }
        return .object([
            ("index", .number(Double(index))), ("id", .string(id)), ("correct", correct.map { .bool($0) } ?? .null),
            ("start_s", .number(round6(startS))), ("ttft_s", .number(round6(ttftS))), ("e2el_s", .number(round6(e2elS))),
            ("output_tokens", .number(Double(outputTokens))),
            (
                "steps",
                .array(
                    steps.map { s in
                        .object([("draft", s.draft.map(phase) ?? .null), ("target", s.target.map(phase) ?? .null)])
                    })
            )
        ])
    }

    init?(_ v: JSONValue) {
        func phase(_ p: JSONValue?) -> SpecsPhase?? {
            guard let p, p != .null else { return .some(nil) }
            guard case .string(let tier)? = p["tier"], case .number(let g)? = p["generate_ms"],
                case .number(let sm)? = p["score_ms"], case .array(let cs)? = p["candidates"], !cs.isEmpty
            else { return nil }
            var out: [SpecsCandidate] = []
            for c in cs {
                guard case .number(let t)? = c["tokens"], case .string(let e)? = c["end"],
                    case .string(let text)? = c["text"]
                else { return nil }
                var score: Double?
                if case .number(let x)? = c["score"] { score = x }
                out.append(SpecsCandidate(text: text, tokens: Int(t), score: score, end: e))
            }
            return .some(SpecsPhase(tier: tier, candidates: out, generateMs: g, scoreMs: sm))
        }
        guard case .number(let i)? = v["index"], case .string(let id)? = v["id"],
            case .number(let st)? = v["start_s"], case .number(let tt)? = v["ttft_s"],
            case .number(let e)? = v["e2el_s"], case .array(let ss)? = v["steps"], !ss.isEmpty
        else { return nil }
        var steps: [SpecsStepRecord] = []
        for s in ss {
            guard let d = phase(s["draft"]), let t = phase(s["target"]), d != nil || t != nil else { return nil }
            steps.append(SpecsStepRecord(draft: d, target: t))
        }
        var correct: Bool?
        if case .bool(let b)? = v["correct"] { correct = b }
        self.init(index: Int(i), id: id, steps: steps, correct: correct, startS: st, ttftS: tt, e2elS: e)
    }
}

@inline(__always) func round6(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }
