import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSupport

/// `handoff specs-loop`'s outputs: `specs-loop.json`, `README.md` and the terminal table.
public enum SpecsReport {
    static let keys = [
        "accuracy", "acceptance_rate", "candidate_pass_rate", "target_step_share", "steps_per_request",
        "output_tokens_per_request", "latency_ms.ttft.p50", "latency_ms.e2el.p50", "latency_ms.e2el.p95",
        "throughput_rps"
    ]

    static func value(_ xs: [(String, Double)], _ k: String) -> Double? { xs.first { $0.0 == k }?.1 }

    public static func modelYAML(_ m: SpecsModel) -> String {
        func law(_ l: SpecsModel.ScoreLaw) -> String {
            "{mean: \(JSONWriter.number(l.mean)), sd_step: \(JSONWriter.number(l.sdStep)), sd_candidate: \(JSONWriter.number(l.sdCandidate))}"
        }
        return """
            # SPECS run live, fitted by `handoff specs-loop` (docs/specs.md). Scores on the logit scale:
            # step level ~ N(mean, sd_step^2), candidate = level + N(0, sd_candidate^2).
            fitted_on: \(JSONWriter.quote(m.fittedOn))
            draft_scores: \(law(m.draftScores))
            target_scores: \(law(m.targetScores))
            draft_step_tokens: \(JSONWriter.number(m.draftStepTokens))
            target_step_tokens: \(JSONWriter.number(m.targetStepTokens))
            length_response: \(JSONWriter.number(m.lengthResponse))     # lambda: progress sum tokens/n_tier at the answer's end
            accuracy_exponent: \(JSONWriter.number(m.accuracyExponent))  # gamma: p = (1 - omega^gamma) h(s) + omega^gamma h(l)
            right_given_right: \(JSONWriter.number(m.rightGivenRight))  # h(true): P(sampled run right | greedy label right)
            right_given_wrong: \(JSONWriter.number(m.rightGivenWrong))  # h(false): P(sampled run right | greedy label wrong)
            score_prompt_tokens: \(m.scorePromptTokens)   # the judge's prompt per call beyond the candidate, from the scoring times
            max_tokens: \(m.maxTokens)
            # The recorded steps' candidate scores (sizes, then the scores step after step).
            draft_step_sizes: [\(m.draftSteps.map { String($0.count) }.joined(separator: ", "))]
            draft_step_scores: [\(m.draftSteps.flatMap { $0 }.map(JSONWriter.number).joined(separator: ", "))]
            target_step_sizes: [\(m.targetSteps.map { String($0.count) }.joined(separator: ", "))]
            target_step_scores: [\(m.targetSteps.flatMap { $0 }.map(JSONWriter.number).joined(separator: ", "))]

            """
    }

    static func modelJSON(_ m: SpecsModel) -> JSONValue {
        func law(_ l: SpecsModel.ScoreLaw) -> JSONValue {
            .object([("mean", .number(l.mean)), ("sd_step", .number(l.sdStep)), ("sd_candidate", .number(l.sdCandidate))])
        }
        return .object([
            ("fitted_on", .string(m.fittedOn)), ("draft_scores", law(m.draftScores)), ("target_scores", law(m.targetScores)),
            ("draft_step_tokens", .number(m.draftStepTokens)), ("target_step_tokens", .number(m.targetStepTokens)),
            ("length_response", .number(m.lengthResponse)), ("accuracy_exponent", .number(m.accuracyExponent)),
            ("right_given_right", .number(m.rightGivenRight)), ("right_given_wrong", .number(m.rightGivenWrong)),
            ("score_prompt_tokens", .number(Double(m.scorePromptTokens)))
        ])
    }

    public static func json(_ cells: [SpecsLoop.Cell], runner: SpecsRunner, model: SpecsModel? = nil) -> JSONValue {
        .object([
            ("model", model.map(modelJSON) ?? .null),
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

    /// Relative error of a prediction, in parentheses; empty without both.
    static func err(_ p: Double?, _ m: Double?) -> String {
        guard let p, let m, m != 0 else { return "" }
        return String(format: "(%+.0f%%)", (p - m) / m * 100)
    }

    static func fmt(_ x: Double?) -> String {
        guard let x else { return "—" }
        return abs(x) >= 100 ? String(format: "%.0f", x) : String(format: "%.3f", x)
    }

    public static func markdown(
        _ cells: [SpecsLoop.Cell], runner: SpecsRunner, command: String, model: SpecsModel? = nil
    ) -> String {
        var s = """
            # SPECS live: Qwen2.5-Coder 0.5B drafts, 1.5B verifies and writes rejected steps

            Written by `\(command)`.

            Every figure in this first table is **measured** on the live servers (no model involved). Scorer:
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
        return s + comparison(cells, fittedOn: model?.fittedOn ?? "the fit widths' runs")
    }

    /// Measured against predicted, per cell with a prediction.
    static func comparison(_ cells: [SpecsLoop.Cell], fittedOn: String) -> String {
        var s = """

            ## Measured against predicted

            Predicted: the fitted SPECS model (fitted on \(fittedOn)) on the recorded trace and its labels alone
            (median of \(SpecsPrediction.replications)
            replications of sampled trajectories; accuracy is the mean, its interval the 2.5–97.5% range of the share a
            run of this many prompts would measure). Every cell runs all the prompts, held-out ones included; a width
            marked "held out" had none of its runs in the fit. One-tier baselines are predicted by the recorded trace
            itself (its greedy labels and lengths, no interval).

            E2EL: the simulator with the calibrated latency laws, on the sampled steps (median [95% interval] over
            the replications) and on the realised steps (replay: the serving model's error alone). Target beam
            search has no latency prediction: the `specs` policy cannot express it. Speed-adjusted: the prediction
            with each tier's law scaled by its speed probe just before the cell (the host's drift since calibration).

            | cell | width | accuracy measured | predicted [95% PI] | acceptance meas. / pred. | target-step share meas. / pred. | steps meas. / pred. | output tokens meas. / pred. | E2EL p50 ms meas. | predicted [95%] | replay | speed-adjusted |
            |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|

            """
        for c in cells {
            guard let p = c.prediction else { continue }
            let m = c.measured
            func pair(_ k: String) -> String {
                guard let a = value(m, k) else { return "—" }
                guard let b = value(p.values, k) else { return fmt(a) + " / —" }
                return fmt(a) + " / " + fmt(b)
            }
            let pi = p.pi95["accuracy"].map { String(format: " [%.2f, %.2f]", $0.0, $0.1) } ?? ""
            let width = "\(c.spec.arm.width)" + (c.heldOut ? " (held out)" : "")
            s += "| \(c.spec.name) | \(width) | \(fmt(value(m, "accuracy"))) | \(fmt(value(p.values, "accuracy")))\(pi) | "
            s += ["acceptance_rate", "target_step_share", "steps_per_request", "output_tokens_per_request"].map(pair)
                .joined(separator: " | ") + " | "
            let k = "latency_ms.e2el.p50"
            let lat = p.pi95[k].map { String(format: " [%.0f, %.0f]", $0.0, $0.1) } ?? ""
            s += "\(fmt(value(m, k))) | \(fmt(value(p.values, k)))\(lat) \(err(value(p.values, k), value(m, k))) | "
            s += "\(fmt(value(p.replay, k))) \(err(value(p.replay, k), value(m, k))) | "
            s += "\(fmt(p.speedAdjustedE2ELP50)) \(err(p.speedAdjustedE2ELP50, value(m, k))) |\n"
        }
        return s
    }

    /// `index.html`: per concurrency, accuracy and E2EL p50 against beam width (SPECS measured and
    /// predicted, target beam search measured, the one-tier baselines as flat lines), then the tables.
    public static func html(
        _ cells: [SpecsLoop.Cell], runner: SpecsRunner, command: String, model: SpecsModel? = nil
    ) -> String {
        var charts = ""
        for c in Array(Set(cells.map(\.spec.concurrency))).sorted() {
            let cs = cells.filter { $0.spec.concurrency == c }
            let widths = cs.map(\.spec.arm.width)
            let span = (Double(widths.min() ?? 1), Double(widths.max() ?? 1))
            for (k, title) in [("accuracy", "Accuracy"), ("latency_ms.e2el.p50", "E2EL p50 (ms)")] {
                var series: [SVGChart.Series] = []
                func pts(_ keep: (SpecsArm) -> Bool, _ v: (SpecsLoop.Cell) -> Double?) -> [(Double, Double)] {
                    cs.filter { keep($0.spec.arm) }.compactMap { x in v(x).map { (Double(x.spec.arm.width), $0) } }
                        .sorted { $0.0 < $1.0 }
                }
                func isSpecs(_ a: SpecsArm) -> Bool { if case .specs = a { return true } else { return false } }
                func isBeam(_ a: SpecsArm) -> Bool { if case .targetBeam = a { return true } else { return false } }
                series.append(.init(name: "SPECS measured", points: pts(isSpecs) { value($0.measured, k) }))
                series.append(
                    .init(name: "SPECS predicted", points: pts(isSpecs) { $0.prediction.flatMap { value($0.values, k) } }, dashed: true))
                let beam = pts(isBeam) { value($0.measured, k) }
                if !beam.isEmpty { series.append(.init(name: "target beam search measured", points: beam)) }
                for x in cs {
                    guard case .greedy(let tier) = x.spec.arm, let v = value(x.measured, k) else { continue }
                    series.append(.init(name: "\(tier)-only greedy", points: [(span.0, v), (span.1, v)], dashed: true, muted: true))
                }
                let chart = SVGChart(title: "\(title), concurrency \(c)", xLabel: "beam width n", yLabel: title)
                charts += chart.lines(series.filter { !$0.points.isEmpty }, yFromZero: true)
            }
        }
        return """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>SPECS live: Qwen2.5-Coder 0.5B → 1.5B</title>
            <style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}svg{margin:6px}</style></head>
            <body><h1>SPECS live by beam width: Qwen2.5-Coder 0.5B → 1.5B</h1>
            <p>Made by <code>\(SVGChart.esc(command))</code>. Scorer: \(SVGChart.esc(StepJudge.name)), \(SVGChart.esc(StepJudge.description)).</p>
            \(charts)
            \(ClosedLoopReport.htmlTables(markdown(cells, runner: runner, command: command, model: model)))
            </body></html>

            """
    }
}
