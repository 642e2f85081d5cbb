import ArgumentParser
import Foundation
import Handoff

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Write a design-review report (index.html with inline SVG, report.md) for a scenario and its threshold.",
        discussion: """
            Simulates the scenario (the baseline) and every offload threshold of --thresholds, then writes \
            OUT/NAME/index.html (self-contained, opens offline), report.md and its .svg charts, thresholds.csv and \
            summary.json: threshold → accuracy, p99 latency, cost and offload curves; latency CDFs; the Pareto \
            scatter; memory per tier against capacity; the scenario in full. The report opens with its conclusion: \
            the threshold that optimises --objective (default cost) under the --constraint bounds (default: the \
            scenario's slo met by at least 90% of requests), with ties within 0.5% broken by accuracy, and the \
            verdict against each tier alone (small-only, large-only), as tune gives it (docs/tuning.md).
            """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(help: "Report name: the folder under --out (default: the scenario's name).") var name: String?
    @Option(help: "Parent folder of the report.") var out: String = "Reports"
    @Option(help: ArgumentHelp("Offload thresholds: a list or start:stop:step.", valueName: "values")) var thresholds:
        String = "0:1:0.05"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Simulations at once (default: all cores).") var jobs: Int?
    @Option(help: "What the conclusion optimises: cost, latency, ttft, accuracy, throughput, min:KEY or max:KEY.")
    var objective: String = "cost"
    @Option(
        name: .customLong("constraint"),
        help: ArgumentHelp(
            "A bound the conclusion's threshold must meet, KEY<=VALUE or KEY>=VALUE (repeatable; default: the scenario's slo met by ≥ 90% of requests).",
            valueName: "bound"))
    var constraints: [String] = []
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            let axis: GridAxis
            do { axis = try GridAxis.parse("policy.offload_threshold=\(thresholds)") } catch let e as HandoffError {
                throw e.with(field: "--thresholds")
            }
            let jobs = try jobCount(self.jobs)
            let objective = try Objective.parse(self.objective)
            let bounds = try constraints.map { try MetricConstraint.parse($0) }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            let reportName = try name ?? family.scenario().name
            guard !reportName.isEmpty, !reportName.contains("/"), reportName != ".", reportName != ".." else {
                throw HandoffError.input("'\(reportName)' is not a folder name", field: "--name")
            }
            let dir = out + "/" + reportName
            // The .svg charts are named by the report; the other files are fixed.
            try output.directory(dir, "--out", inputs: [scenario], ownNames: ThresholdReport.fileNames)
            let progress = Progress("report")
            let r = try ThresholdReport.build(
                family: family, name: reportName, thresholds: axis.values, jobs: jobs, objective: objective,
                constraints: bounds.isEmpty ? nil : bounds, progress: { progress.update($0, $1, " thresholds") })
            try r.write(to: dir)
            emit(
                "report → \(dir)/index.html, report.md (\(r.results.count) thresholds + baseline, \(family.simulations + r.decision.tune.simulations) simulations)\nconclusion: \(r.conclusion)\n"
            )
        }
    }
}
