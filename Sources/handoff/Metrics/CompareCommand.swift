import ArgumentParser
import Foundation
import Handoff

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract:
            "Compare a `vllm bench serve --save-result` file from your deployment with the scenario's prediction.",
        discussion: """
            Rebuilds the benchmark's workload from RESULT: each request's input and output length \
            (input_lens/output_lens, written with --save-detailed; otherwise every request at the mean \
            lengths), and its arrivals (request_rate "inf": a closed loop at max_concurrency; a finite rate: \
            Poisson, or gamma with burstiness as vLLM draws it). Simulates that workload under SCENARIO \
            (default: the embedded one; describe your deployment as a one-tier scenario with policy `single`, \
            docs/bring-your-own.md) and prints measured, predicted and the relative error of completed, \
            duration, throughputs, and mean/median/p99 TTFT, TPOT, ITL and E2EL. `handoff validate` writes \
            such a file (vllm-bench.json) for a run against real servers.
            """)

    @Argument(help: "The result file (JSON) of `vllm bench serve --save-result [--save-detailed]`.")
    var result: String

    @Argument(help: "Scenario YAML file (default: the embedded default scenario).")
    var scenario: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a field: path.to.field=value (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Option(
        help:
            "table or json (keys: requests, exact_lengths, traffic, notes, rows[{metric, measured, predicted, error_pct}])."
    )
    var format: Format = .table

    func run() throws {
        try guarded {
            let workload = try BenchComparison.read(path: result)
            let sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
            let c = try BenchComparison.run(workload, scenario: sc)
            emit(format == .json ? JSONWriter.write(c.json, pretty: true) + "\n" : c.table)
        }
    }
}
