import ArgumentParser
import Foundation
import Handoff

/// `simulate`'s formats: the shared ones, and vLLM's benchmark result JSON.
enum SimulateFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
    case vllmBench = "vllm-bench"
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a trace through a scenario and print the predicted metrics.",
        discussion: """
            With no SCENARIO, runs the embedded default scenario (Scenarios/default.yaml). The JSON summary's \
            keys are stable (docs/output.md): requests, duration_s, throughput_rps, output_tokens_per_s, \
            latency_ms.{ttft,tpot,e2el}.{mean,p50,p90,p95,p99}, offload.token_fraction, \
            offload.handoffs_per_request, memory_gib.<tier>.{peak,capacity,fits}, cost_usd.{total,per_1k_requests}, \
            accuracy.{predicted,ci95}, seed.
            """)

    @Argument(help: "Scenario YAML file (default: the embedded default scenario).")
    var scenario: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a field: path.to.field=value (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    @Option(
        help:
            "Output format: table, json, csv (summary as one header row and one value row), or vllm-bench (the JSON `vllm bench serve --save-result` writes, docs/output.md)."
    )
    var format: SimulateFormat = .table

    @Flag(
        help:
            "With --format vllm-bench: add the per-request arrays (input_lens, output_lens, ttfts, itls, errors), as vLLM's --save-detailed does."
    )
    var saveDetailed = false

    @Option(help: "Directory to write summary.json, requests.csv and report.md into (replaced as a whole, atomically).")
    var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            let sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
            if let out {
                try output.directory(
                    out, "--out", inputs: [scenario, sc.trace.path], ownNames: SimulationOutput.fileNames)
            }
            let result = try Simulation.run(sc)
            if let out { try SimulationOutput.write(result, to: out) }
            switch format {
            case .table: emit(SimulationOutput.table(result))
            case .json: emit(JSONWriter.write(result.summary, pretty: true) + "\n")
            case .csv: emit(SimulationOutput.summaryCSV(result))
            case .vllmBench:
                emit(JSONWriter.write(VLLMBenchResult.json(result, detailed: saveDetailed), pretty: true) + "\n")
            }
        }
    }
}
