import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff report`: a design-review report of one scenario and its offload threshold.
///
/// Simulates the scenario as given (the baseline) and at every threshold of the grid, then writes
/// `index.html` (self-contained: inline SVG and CSS, nothing fetched), `report.md` (linking the
/// same charts as `.svg` files), `thresholds.csv` and `summary.json`: threshold → accuracy, p99
/// latency and cost curves; end-to-end latency CDFs; the Pareto scatter (accuracy up, p99 E2EL and
/// cost down); memory per tier against capacity; the scenario in full.
public struct ThresholdReport {
    public var name: String
    public var baseline: SimulationResult
    public var thresholds: [String]
    public var results: [SimulationResult]
    /// Which thresholds are on the Pareto frontier (`SweepOutput.frontier`).
    public var pareto: [Bool]
    /// The threshold chosen and the verdict against each tier alone.
    public var decision: ReportDecision

    /// - Parameter progress: called (from any thread) with (thresholds done, thresholds) as each
    ///   threshold's simulation finishes.
    /// - Parameters: objective, constraints: what the conclusion optimises (default: cost under
    ///   the scenario's `slo` as p99 bounds).
    public static func build(
        family: ScenarioFamily, name: String, thresholds: [String], jobs: Int,
        objective: Objective = Objective(key: "cost_usd.per_1k_requests", maximize: false),
        constraints: [MetricConstraint]? = nil, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> ThresholdReport {
        let base = try family.run()
        let hasThreshold = base.scenario.policy.parameters.contains { $0.0 == "offload_threshold" }
        let values = hasThreshold ? thresholds : []
        for v in values { _ = try family.scenario(["policy.offload_threshold=\(v)"]) }
        let done = DoneCount()
        let results = try Parallel.map(values.count, jobs: jobs) { k in
            let r = try family.run(["policy.offload_threshold=\(values[k])"])
            progress(done.increment(), values.count)
            return r
        }
        let decision = try decide(
            family: family, thresholds: values, results: results, baseline: base, objective: objective,
            constraints: constraints, jobs: jobs)
        return ThresholdReport(
            name: name, baseline: base, thresholds: values, results: results,
            pareto: SweepOutput.frontier(results.map(\.summary)), decision: decision)
    }

    /// The charts, by file name.
    public func charts() -> [(file: String, title: String, svg: String)] {
        var out: [(file: String, title: String, svg: String)] = []
        if !results.isEmpty { out += thresholdCharts() }
        out.append(cdfChart())
        if !results.isEmpty { out.append(paretoChart()) }
        out.append(memoryChart())
        return out
    }

    /// Accuracy, p99 latency, cost and offload share against the threshold.
    func thresholdCharts() -> [(file: String, title: String, svg: String)] {
        var out: [(file: String, title: String, svg: String)] = []
        let x = thresholds.compactMap(Double.init)
        func series(_ key: String, scale: Double = 1, steadyOnly: Bool = false) -> [(Double, Double)] {
            zip(x, results).compactMap { t, r in
                steadyOnly && !SummaryKeys.steady(r.summary)
                    ? nil : r.summary.number(at: key).map { (t, $0 * scale) }
            }
        }
        // Latency and cost of a run that is not steady are not results: those thresholds are
        // left out of the latency and cost charts (and said so), not drawn at their run-length
        // dependent values.
        let unsteady = results.filter { !SummaryKeys.steady($0.summary) }.count
        let leftOut = unsteady > 0 ? " (\(unsteady) overloaded or too-short thresholds left out)" : ""
        let chosen: [SVGChart.Mark] = decision.chosen.map { [.x(x[$0], "chosen τ = \(thresholds[$0])")] } ?? []
        let slo = sloMarks
        if results.contains(where: { $0.summary.number(at: "accuracy.predicted") != nil }) {
            out.append(
                (
                    "threshold-accuracy.svg", "Predicted accuracy against the offload threshold",
                    SVGChart(
                        title: "Accuracy vs offload threshold", xLabel: "offload threshold",
                        yLabel: "predicted accuracy"
                    )
                    .lines([
                        .init(name: "predicted", points: series("accuracy.predicted")),
                        .init(
                            name: "95% CI low",
                            points: zip(x, results).compactMap { t, r in r.accuracy.map { (t, $0.ci95.0) } },
                            dashed: true),
                        .init(
                            name: "95% CI high",
                            points: zip(x, results).compactMap { t, r in r.accuracy.map { (t, $0.ci95.1) } },
                            dashed: true)
                    ], marks: chosen)
                ))
        }
        out.append(
            (
                "threshold-latency.svg", "Latency percentiles against the offload threshold, steady runs only" + leftOut,
                SVGChart(title: "Latency vs offload threshold", xLabel: "offload threshold", yLabel: "seconds")
                    .lines(
                        [
                            .init(
                                name: "E2EL p99",
                                points: series("latency_ms.e2el.p99", scale: 1e-3, steadyOnly: true)),
                            .init(
                                name: "E2EL p90", points: series("latency_ms.e2el.p90", scale: 1e-3, steadyOnly: true),
                                dashed: true),
                            .init(
                                name: "TTFT p99",
                                points: series("latency_ms.ttft.p99", scale: 1e-3, steadyOnly: true))
                        ], yFromZero: true, marks: chosen + slo)
            ))
        out.append(
            (
                "threshold-cost.svg", "Cost against the offload threshold, steady runs only" + leftOut,
                SVGChart(
                    title: "Cost per 1k requests vs offload threshold", xLabel: "offload threshold",
                    yLabel: "USD per 1k requests"
                )
                .lines(
                    [.init(name: "cost", points: series("cost_usd.per_1k_requests", steadyOnly: true))],
                    yFromZero: true, marks: chosen)
            ))
        out.append(
            (
                "threshold-offload.svg", "Offloaded share of tokens against the offload threshold",
                SVGChart(
                    title: "Offloaded token share vs offload threshold", xLabel: "offload threshold",
                    yLabel: "share of output tokens"
                )
                .lines([.init(name: "offload", points: series("offload.token_fraction"))], yFromZero: true, marks: chosen)
            ))
        return out
    }

    /// Latency CDFs: the baseline and up to three thresholds across the grid.
    func cdfChart() -> (file: String, title: String, svg: String) {
        func cdf(_ r: SimulationResult) -> [(Double, Double)] {
            let xs = r.outcome.requests.filter { !$0.failed }.map(\.e2elS).sorted()
            let step = max(1, xs.count / 400)
            var pts = stride(from: 0, to: xs.count, by: step).map { (xs[$0], Double($0 + 1) / Double(xs.count)) }
            if let last = xs.last { pts.append((last, 1)) }
            return pts
        }
        var cdfs = [SVGChart.Series(name: "baseline", points: cdf(baseline))]
        let picks = results.isEmpty ? [] : Array(Set([0, results.count / 2, results.count - 1])).sorted()
        for k in picks {
            let flag = SummaryKeys.steady(results[k].summary) ? "" : " (\(Self.stateLabel(results[k].summary)))"
            cdfs.append(.init(name: "τ=\(thresholds[k])\(flag)", points: cdf(results[k]), dashed: true))
        }
        return (
            "latency-cdf.svg", "End-to-end latency CDFs",
            SVGChart(title: "End-to-end latency CDF", xLabel: "seconds", yLabel: "share of requests ≤ x").lines(
                cdfs, yFromZero: true)
        )
    }

    /// The Pareto frontier over accuracy, p99 E2EL and cost.
    func paretoChart() -> (file: String, title: String, svg: String) {
        let hasAcc = results.contains { $0.summary.number(at: "accuracy.predicted") != nil }
        return (
            "pareto.svg", "Pareto frontier over accuracy, p99 E2EL and cost, steady runs only",
            SVGChart(
                title: hasAcc
                    ? "Accuracy vs cost (frontier: accuracy, p99 E2EL, cost)" : "p99 E2EL vs cost",
                xLabel: "USD per 1k requests", yLabel: hasAcc ? "predicted accuracy" : "p99 E2EL (s)"
            )
            .scatter(
                results.map {
                    (
                        $0.summary.number(at: "cost_usd.per_1k_requests") ?? .nan,
                        hasAcc
                            ? ($0.summary.number(at: "accuracy.predicted") ?? .nan)
                            : ($0.summary.number(at: "latency_ms.e2el.p99") ?? .nan) / 1000
                    )
                },
                highlight: pareto, labels: thresholds.map { "τ=\($0)" },
                muted: results.map { !SummaryKeys.steady($0.summary) || !SummaryKeys.servedAll($0.summary) },
                chosen: decision.chosen)
        )
    }

    /// Memory per tier against capacity, at the baseline.
    func memoryChart() -> (file: String, title: String, svg: String) {
        let gpuTiers = baseline.scenario.tiers.filter { $0.kind == .gpu }.map(\.name)
        let s = baseline.summary
        return (
            "memory.svg", "Memory per tier against capacity (baseline)",
            SVGChart(title: "GPU memory per replica (baseline)", xLabel: "tier", yLabel: "GiB")
                .bars(
                    categories: gpuTiers,
                    values: [
                        ("weights", gpuTiers.map { s.number(at: "memory_gib.\($0).weights") ?? 0 }),
                        ("weights + peak KV", gpuTiers.map { s.number(at: "memory_gib.\($0).peak") ?? 0 })
                    ],
                    capacity: gpuTiers.map { s.number(at: "memory_gib.\($0).capacity") ?? 0 })
        )
    }

    static let tableKeys = [
        "offload.token_fraction", "accuracy.predicted", "latency_ms.ttft.p99", "latency_ms.e2el.p50",
        "latency_ms.e2el.p99",
        "windows.worst_e2el_p99_ms", "throughput_rps", "slo.goodput_rps", "cost_usd.per_1k_requests", "requests_failed"
    ]

    public func csv() -> String {
        var s = (["offload_threshold"] + Self.tableKeys + ["stability", "pareto"]).joined(separator: ",") + "\n"
        for (k, r) in results.enumerated() {
            s +=
                ([thresholds[k]] + Self.tableKeys.map { r.summary.number(at: $0).map(JSONWriter.number) ?? "" } + [
                    SummaryKeys.stability(r.summary), pareto[k] ? "true" : "false"
                ]).joined(separator: ",") + "\n"
        }
        return s
    }

    func table(markdown: Bool) -> String {
        let head = ["threshold"] + Self.tableKeys + ["stability", "Pareto"]
        let rows = results.enumerated().map { k, r in
            [thresholds[k] + (k == decision.chosen ? " (chosen)" : "")]
                + Self.tableKeys.map { key in HumanNumber.format(r.summary.number(at: key)) } + [
                    Self.stateLabel(r.summary), pareto[k] ? "yes" : ""
                ]
        }
        if markdown {
            return "| " + head.joined(separator: " | ") + " |\n|" + head.map { _ in "---" }.joined(separator: "|")
                + "|\n" + rows.map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n") + "\n"
        }
        return "<table><tr>" + head.map { "<th>\(SVGChart.esc($0))</th>" }.joined() + "</tr>\n"
            + rows.enumerated().map { k, r in
                "<tr\(rowClass(k))>" + r.map { "<td>\(SVGChart.esc($0))</td>" }.joined()
                    + "</tr>"
            }.joined(separator: "\n") + "</table>\n"
    }

    /// The latency bounds drawn on the p99 chart: a p99 constraint, or the scenario's SLO when
    /// the constraints are its attainment.
    var sloMarks: [SVGChart.Mark] {
        var marks: [SVGChart.Mark] = []
        for c in decision.constraints where c.relation == .le || c.relation == .lt {
            if c.key == "latency_ms.e2el.p99" { marks.append(.y(c.bound / 1000, "bound: E2EL p99 ≤ \(HumanNumber.format(c.bound / 1000)) s")) }
            if c.key == "latency_ms.ttft.p99" { marks.append(.y(c.bound / 1000, "bound: TTFT p99 ≤ \(HumanNumber.format(c.bound / 1000)) s")) }
        }
        let slo = baseline.scenario.slo
        if decision.constraints.contains(where: { $0.key == "slo.e2el_attainment" }), let e = slo.e2elMs {
            marks.append(.y(e / 1000, "SLO: E2EL ≤ \(HumanNumber.format(e / 1000)) s for \(Int(Self.sloAttainment * 100))% (p\(Int(Self.sloAttainment * 100)))"))
        }
        if decision.constraints.contains(where: { $0.key == "slo.ttft_attainment" }), let t = slo.ttftMs {
            marks.append(.y(t / 1000, "SLO: TTFT ≤ \(HumanNumber.format(t / 1000)) s for \(Int(Self.sloAttainment * 100))%"))
        }
        return marks
    }

    /// A threshold row's class: chosen, on the frontier, or greyed (not a result).
    func rowClass(_ k: Int) -> String {
        if k == decision.chosen { return " class=\"chosen\"" }
        if !SummaryKeys.steady(results[k].summary) { return " class=\"unsteady\"" }
        return pareto[k] ? " class=\"pareto\"" : ""
    }

    /// The baseline summary's rows, numbers in 4 significant digits.
    var summaryRows: [(String, String)] {
        SimulationOutput.flatten(baseline.summary).map { k, v in (k, Double(v).map { HumanNumber.format($0) } ?? v) }
    }

    public var conclusion: String {
        decision.conclusion(thresholds: thresholds, accuracySource: baseline.typedSummary.accuracy.source)
    }

    /// `stability.state` as a reader sees it: OVERLOADED and TOO SHORT shout, steady does not.
    static func stateLabel(_ summary: JSONValue) -> String {
        switch SummaryKeys.stability(summary) {
        case "overloaded": return "OVERLOADED"
        case "too_short":
            // Mostly warm-up and most arrivals still unserved at the last one: overloaded, or each
            // request takes longer than the run; only a longer run can tell.
            return (summary.number(at: "stability.served_share") ?? 1) < 0.5 ? "TOO SHORT (overloaded?)" : "TOO SHORT"
        case let s: return s
        }
    }

    /// How many thresholds are not results, said once above the table.
    var stabilityNote: String {
        let bad = results.filter { !SummaryKeys.steady($0.summary) }.count
        guard bad > 0 else { return "" }
        return
            "\(bad) of \(results.count) thresholds are OVERLOADED or TOO SHORT (column stability): their latencies and costs depend on the run's length and are not results; they are never on the Pareto frontier. "
    }

    var intro: String {
        let sc = baseline.scenario
        let warn = SimulationOutput.stabilityWarning(baseline.summary).map { "The baseline: " + $0 + " " } ?? ""
        return warn
            + "Scenario <code>\(SVGChart.esc(sc.name))</code>, policy <code>\(SVGChart.esc(sc.policy.name))</code>, seed \(sc.seed), "
            + "\(Int(baseline.summary.number(at: "requests") ?? 0)) requests. Every threshold uses the same seed (common random numbers)."
            + sourceNote
    }

    /// Where the accuracy and offload curves come from, in words (`accuracy.source`).
    var sourceNote: String {
        switch baseline.typedSummary.accuracy.source {
        case "synthetic":
            return
                " Accuracy and offload are SYNTHETIC: the trace's difficulties and labels were invented by the generator's presets, so these curves show the generator, not your models; do not choose a threshold on them."
        case "blend":
            return " Accuracy is modelled: real labels blended by offloaded difficulty (not fitted to live runs)."
        case "closed_loop": return " Accuracy and offload come from a fitted closed-loop model."
        case "specs_model": return " Accuracy and the steps come from a fitted SPECS model (docs/specs.md)."
        case "none": return " The trace has no outcome labels: no accuracy."
        default: return ""
        }
    }

    public func html(charts: [(file: String, title: String, svg: String)]) -> String {
        var h = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Handoff report: \(SVGChart.esc(name))</title>
            <style>
            body { font-family: sans-serif; max-width: 1180px; margin: 24px auto; color: #222; }
            h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ccc; }
            .grid { display: flex; flex-wrap: wrap; gap: 12px; } figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
            table { border-collapse: collapse; font-size: 12px; } td, th { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
            tr.pareto td { background: #fde8e8; } tr.chosen td { background: #dff0d8; font-weight: bold; }
            tr.unsteady td { color: #999; } p.conclusion { font-size: 15px; background: #f4f8fb; border-left: 4px solid #1f77b4; padding: 8px 12px; }
            pre { background: #f6f6f6; padding: 10px; font-size: 12px; overflow-x: auto; }
            </style></head><body>
            <h1>Handoff report: \(SVGChart.esc(name))</h1>
            <p class="conclusion">\(SVGChart.esc(conclusion))</p>
            <p>\(intro) Made by <code>handoff report</code>.</p>

            """
        h += "<h2>Charts</h2><div class=\"grid\">\n"
        for c in charts { h += "<figure>\(c.svg)<figcaption>\(SVGChart.esc(c.title))</figcaption></figure>\n" }
        h += "</div>\n"
        if !results.isEmpty {
            h +=
                "<h2>Threshold sweep</h2>\n<p>\(stabilityNote)The chosen threshold is green and bold, rows on the Pareto frontier are shaded red, overloaded or too-short runs are grey.</p>\n"
                + table(markdown: false)
        }
        h +=
            "<h2>Baseline summary</h2>\n<table>"
            + summaryRows.map {
                "<tr><th style=\"text-align:left\">\(SVGChart.esc($0.0))</th><td>\(SVGChart.esc($0.1))</td></tr>"
            }.joined(separator: "\n") + "</table>\n"
        h += "<h2>Scenario</h2>\n<pre>" + SVGChart.esc(baseline.scenario.source.yaml()) + "</pre>\n</body></html>\n"
        return h
    }

    public func markdown(charts: [(file: String, title: String, svg: String)]) -> String {
        var md =
            "# Handoff report: \(name)\n\n**Conclusion.** \(conclusion)\n\n"
            + intro.replacingOccurrences(of: "<code>", with: "`").replacingOccurrences(of: "</code>", with: "`")
        md += " Made by `handoff report`; `index.html` has the same content self-contained.\n\n## Charts\n\n"
        for c in charts { md += "![\(c.title)](\(c.file))\n\n" }
        if !results.isEmpty {
            md +=
                "## Threshold sweep\n\n" + (stabilityNote.isEmpty ? "" : stabilityNote + "\n\n") + table(markdown: true)
                + "\n"
        }
        md +=
            "## Baseline summary\n\n| metric | value |\n|---|---|\n"
            + summaryRows.map { "| `\($0.0)` | \($0.1) |" }.joined(separator: "\n")
            + "\n"
        md += "\n## Scenario\n\n```yaml\n" + baseline.scenario.source.yaml() + "```\n"
        return md
    }

    /// The files every report writes, besides its `.svg` charts.
    public static let fileNames: Set<String> = ["index.html", "report.md", "thresholds.csv", "summary.json"]

    /// Writes every file as the directory `dir`, atomically (built aside, then renamed).
    public func write(to dir: String) throws {
        let charts = charts()
        try FileIO.writeDirectoryAtomically(dir, ownNames: Self.fileNames.union(charts.map(\.file))) { d in
            for c in charts { try FileIO.put(c.svg, in: d, c.file) }
            try FileIO.put(html(charts: charts), in: d, "index.html")
            try FileIO.put(markdown(charts: charts), in: d, "report.md")
            try FileIO.put(csv(), in: d, "thresholds.csv")
            try FileIO.put(JSONWriter.write(baseline.summary, pretty: true) + "\n", in: d, "summary.json")
        }
    }
}

/// A count shared by worker threads.
final class DoneCount: @unchecked Sendable {
    private var n = 0
    private let lock = NSLock()
    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        n += 1
        return n
    }
}
