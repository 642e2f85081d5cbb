import ArgumentParser
import Foundation
import Handoff

struct WhatIfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whatif",
        abstract: "Deltas of throughput, latency, cost and accuracy against the baseline when fields change.",
        discussion: """
            Each --vary names a scenario field and its values (a list or start:stop:step); every combination is \
            simulated with the baseline's seed, so a delta is the effect of the change. --metric replaces the \
            default metrics (throughput, TTFT and E2EL p99, cost per 1k and total, accuracy, offload share, \
            failures) with summary keys of your choice. Output keys: docs/tuning.md.
            Example: handoff whatif --vary 'cost.large.usd_per_gpu_hour=2,3,4' --vary 'network.rtt_ms=10,40,120'
            """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(
        name: .customLong("vary"),
        help: ArgumentHelp(
            "A field and its values: path=a,b,c or path=start:stop:step (repeatable).", valueName: "path=values"))
    var vary: [String] = []
    @Option(
        name: .customLong("metric"),
        help: ArgumentHelp("A summary key to report (repeatable; default: a budget set).", valueName: "key"))
    var metrics: [String] = []
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a field for the baseline and every variant (repeatable).", valueName: "path=value")
    )
    var overrides: [String] = []
    @Option(help: "Configurations simulated at once (default: all cores).") var jobs: Int?
    @Option(help: "Output format.") var format: OutputFormat = .table
    @Option(help: "Also write whatif.json into this folder.") var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            guard !vary.isEmpty else { throw HandoffError.input("give at least one --vary path=values") }
            let jobs = try jobCount(self.jobs)
            if let out {
                try output.directory(out, "--out", inputs: [scenario], ownNames: ["whatif.json"], inPlace: true)
            }
            let grid = try Grid(
                try vary.map { s in
                    do { return try GridAxis.parse(s) } catch let e as HandoffError {
                        throw e.with(field: "--vary \(s)")
                    }
                })
            let w = try WhatIf(
                family: try ScenarioFamily(path: scenario, overrides: overrides), grid: grid,
                metrics: metrics.isEmpty ? WhatIf.defaultMetrics : metrics)
            let (base, rows) = try w.run(jobs: jobs)
            let json = w.json(baseline: base, rows: rows)
            if let out { try writeJSON(json, to: out, name: "whatif.json") }
            switch format {
            case .json: emit(JSONWriter.write(json, pretty: true) + "\n")
            case .csv: emit(WhatIfOutput.csv(w, baseline: base, rows: rows))
            case .table: emit(WhatIfOutput.table(w, baseline: base, rows: rows))
            }
        }
    }
}

/// whatif's CSV and table (the JSON is `WhatIf.json`).
enum WhatIfOutput {
    static func csv(_ w: WhatIf, baseline base: JSONValue, rows: [JSONValue]) -> String {
        let head = w.grid.axes.map(\.path) + w.metrics.flatMap { [$0, $0 + ".delta", $0 + ".delta_pct"] }
        var s = head.map(CSV.escape).joined(separator: ",") + "\n"
        s +=
            (w.grid.axes.map { _ in "baseline" }
            + w.metrics.flatMap { [base.number(at: $0).map(JSONWriter.number) ?? "", "0", "0"] }).joined(
                separator: ",") + "\n"
        for (k, r) in rows.enumerated() {
            s +=
                (w.grid.configuration(k).map { CSV.escape($0.value) }
                + w.metrics.flatMap { m -> [String] in
                    let d = WhatIf.delta(m, of: r, against: base)
                    return [d.value, d.delta, d.percent].map { $0.map(JSONWriter.number) ?? "" }
                }).joined(separator: ",") + "\n"
        }
        return s
    }

    /// One row per variant; a metric's cell is its value and, in parentheses, the change against the
    /// baseline: `2.747e+04 (+5.4%)`, `(=)` when equal, the difference when the baseline is 0.
    static func table(_ w: WhatIf, baseline base: JSONValue, rows: [JSONValue]) -> String {
        let head =
            w.grid.axes.map { $0.path.split(separator: ".").suffix(2).joined(separator: ".") }
            + w.metrics.map {
                $0.replacingOccurrences(of: "latency_ms.", with: "").replacingOccurrences(of: "cost_usd.", with: "$")
            }
            + ["stability"]
        func state(_ s: JSONValue) -> String {
            let st = SummaryKeys.stability(s)
            return st == "steady" || st.isEmpty ? st : st.uppercased() + " (not a result)"
        }
        var body = [w.grid.axes.map { _ in "baseline" } + w.metrics.map { fmt(base.number(at: $0)) } + [state(base)]]
        for (k, r) in rows.enumerated() {
            body.append(
                w.grid.configuration(k).map(\.value) + w.metrics.map { cell(WhatIf.delta($0, of: r, against: base)) }
                    + [state(r)])
        }
        let widths = head.indices.map { c in ([head] + body).map { $0[c].count }.max()! + 2 }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined()
                .trimmingCharacters(in: .whitespaces) + "\n"
        }
        var s = "whatif \(w.family.origin): \(rows.count) variants against the baseline (same seed)\n"
        s += ([head] + body).map(line).joined()
        s +=
            "(each variant: its value, and in parentheses the change against the baseline row: % of the baseline, "
            + "or the difference when the baseline is 0; = unchanged. A row that is OVERLOADED or TOO_SHORT is not a "
            + "result: its latencies and costs depend on the run's length; docs/output.md, stability)\n"
        return s
    }

    static func cell(_ d: WhatIf.Delta) -> String {
        guard let value = d.value else { return "—" }
        guard let delta = d.delta else { return fmt(value) }
        if delta == 0 { return fmt(value) + " (=)" }
        let change = d.percent.map { String(format: "%+.1f%%", $0) } ?? String(format: "%+.4g", delta)
        return fmt(value) + " (" + change + ")"
    }
}
