import Foundation
import HandoffSupport

/// `handoff specs-loop`'s outputs: `specs-loop.json`, `README.md` and the terminal table.
public enum SpecsReport {
    static let keys = [
        "accuracy", "acceptance_rate", "candidate_pass_rate", "target_step_share", "steps_per_request",
        "output_tokens_per_request", "latency_ms.ttft.p50", "latency_ms.e2el.p50", "latency_ms.e2el.p95",
        "throughput_rps"
    ]

    static func value(_ xs: [(String, Double)], _ k: String) -> Double? { xs.first { $0.0 == k }?.1 }

    public static func json(_ cells: [SpecsLoop.Cell], runner: SpecsRunner) -> JSONValue {
        .object([
            (
                "scorer",
                .object([("name", .string(StepJudge.name)), ("description", .string(StepJudge.description))])
            ),
            ("step_tokens", .number(Double(runner.stepTokens))), ("max_tokens", .number(Double(runner.maxTokens))),
            ("temperature", .number(runner.temperature)), ("seed", .number(Double(runner.seed))),
            ("cells", .array(cells.map(\.json)))
        ])
    }

    public static func table(_ cells: [SpecsLoop.Cell]) -> String {
        var s = "cell                       accuracy [95% CI]      accept  target  steps  tokens  e2el.p50 ms\n"
        for c in cells {
            let m = c.measured
            let ci = c.accuracyCI95.map { String(format: "[%.2f, %.2f]", $0.0, $0.1) } ?? ""
            s += c.spec.name.padding(toLength: 27, withPad: " ", startingAt: 0)
            s += (fmt(value(m, "accuracy")) + " " + ci).padding(toLength: 23, withPad: " ", startingAt: 0)
            s += fmt(value(m, "acceptance_rate")).leftPad(6) + fmt(value(m, "target_step_share")).leftPad(8)
            s += fmt(value(m, "steps_per_request")).leftPad(7) + fmt(value(m, "output_tokens_per_request")).leftPad(8)
            s += fmt(value(m, "latency_ms.e2el.p50")).leftPad(13) + "\n"
        }
        return s
    }

    static func fmt(_ x: Double?) -> String {
        guard let x else { return "—" }
        return abs(x) >= 100 ? String(format: "%.0f", x) : String(format: "%.3f", x)
    }

    public static func markdown(_ cells: [SpecsLoop.Cell], runner: SpecsRunner, command: String) -> String {
        var s = """
            # SPECS live: Qwen2.5-Coder 0.5B drafts, 1.5B verifies and writes rejected steps

            Written by `\(command)`.

            Every figure below is **measured** on the live servers (no model involved). Scorer:
            `\(StepJudge.name)`, \(StepJudge.description). Steps end at a blank line or at \(runner.stepTokens)
            tokens; requests at the model's end or \(runner.maxTokens) tokens; candidates sampled at temperature
            \(JSONWriter.number(runner.temperature)). Accuracy's interval is the exact binomial (Clopper–Pearson)
            95% interval of the measured share: what this many prompts can resolve.

            | cell | prompts | accuracy [95% CI] | acceptance | candidate pass | target-step share | steps | output tokens | TTFT p50 ms | E2EL p50 ms | E2EL p95 ms |
            |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|

            """
        for c in cells {
            let m = c.measured
            let (k, n) = c.judged
            let ci = c.accuracyCI95.map { String(format: " [%.2f, %.2f]", $0.0, $0.1) } ?? ""
            let acc = n == 0 ? "—" : "\(k)/\(n) = \(fmt(value(m, "accuracy")))\(ci)"
            s += "| \(c.spec.name) | \(c.samples.count) | \(acc) | "
            s += ["acceptance_rate", "candidate_pass_rate", "target_step_share", "steps_per_request",
                  "output_tokens_per_request", "latency_ms.ttft.p50", "latency_ms.e2el.p50", "latency_ms.e2el.p95"]
                .map { fmt(value(m, $0)) }.joined(separator: " | ") + " |\n"
        }
        return s
    }
}
