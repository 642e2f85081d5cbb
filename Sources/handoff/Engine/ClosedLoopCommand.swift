import ArgumentParser
import Foundation
import Handoff

struct ClosedLoopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closed-loop",
        abstract:
            "Run splitreason live over a threshold grid, fit the closed-loop model on some thresholds, and check it on the others.",
        discussion: """
            For each concurrency and threshold, runs the trace's first --sample prompts live against the scenario's \
            servers (natural lengths: a request ends where the model ends it, or at --max-tokens), journaled in \
            OUT/runs/ (a rerun resumes). Fits the closed-loop model (post-handoff crossing factor, length response, \
            accuracy exponent; GSL) on the runs at the --fit thresholds, then writes, per cell, measured against \
            predicted (the model on the recorded trace and labels alone; latency, offload and handoffs as the median \
            of 40 replications of sampled trajectories, with a 95% interval), replay (the simulator on the realised \
            streams) and trace_only (no closed-loop model): OUT/closed-loop.json, OUT/closed-loop-model.yaml, \
            OUT/README.md and OUT/index.html. The trace must be recorded with `handoff record --label-server` and \
            the same --max-tokens. See docs/closed-loop.md.
            """)
    @Argument(help: "Scenario with a splitreason policy, servers under engine.*.url and a recorded trace.")
    var scenario: String = "Scenarios/qwen-local.yaml"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Thresholds to run (comma-separated).") var thresholds: String = "0.45,0.55,0.65,0.75"
    @Option(help: "Thresholds the model is fitted on; the others are held out.") var fit: String = "0.45,0.65"
    @Option(help: "Concurrencies (comma-separated).") var concurrency: String = "1,4"
    @Option(help: "Prompts per cell (the trace's first N).") var sample: Int = 12
    @Option(help: "Output cap per request (the trace's recording cap).") var maxTokens: Int = 256
    @Option(help: "Output folder.") var out: String = "Reports/qwen-local"
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            func list(_ s: String, _ field: String) throws -> [Double] {
                let xs = s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard !xs.isEmpty, xs.allSatisfy({ $0 != nil && $0! >= 0 && $0! <= 1 }) else {
                    throw HandoffError.input("expected comma-separated numbers in [0, 1], got '\(s)'", field: field)
                }
                return xs.map { $0! }
            }
            let taus = try list(thresholds, "--thresholds")
            let fits = try list(fit, "--fit")
            for f in fits where !taus.contains(f) {
                throw HandoffError.input("\(JSONWriter.number(f)) is not among --thresholds", field: "--fit")
            }
            let cs = try concurrency.split(separator: ",").map { s -> Int in
                guard let c = Int(s.trimmingCharacters(in: .whitespaces)), c >= 1 else {
                    throw HandoffError.input("expected comma-separated integers ≥ 1", field: "--concurrency")
                }
                return c
            }
            guard sample >= 1, maxTokens >= 1 else {
                throw HandoffError.input("expected --sample ≥ 1 and --max-tokens ≥ 1")
            }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            let sc = try family.scenario()
            let trace = try Simulation.loadTrace(sc)
            guard sample <= trace.count else {
                throw HandoffError.input(
                    "--sample \(sample) is out of range: the trace has \(trace.count) requests", field: "--sample")
            }
            try output.prepare(
                out, "--out", inputs: [scenario, sc.trace.path], ownNames: ClosedLoopValidation.fileNames)
            var clients: [String: OpenAIClient] = [:]
            for tier in ["small", "large"] {
                if let u = sc.engine[tier]?.url {
                    clients[tier] = try serverOptions.client(u, tier: tier, scenario: sc)
                }
            }
            let v = ClosedLoopValidation(
                family: family, trace: trace, clients: clients, thresholds: taus, fitThresholds: Set(fits),
                concurrencies: cs, requests: Array(0..<sample), maxTokens: maxTokens, outDir: out)
            let progress = Progress("closed-loop")
            let (model, cells, load) = try await v.run { progress.note($0) }
            progress.finish()
            let json = ClosedLoopValidation.json(model: model, cells: cells)
            try writeJSON(json, to: out, name: "closed-loop.json")
            try FileIO.writeAtomically(ClosedLoopReport.modelYAML(model), to: out + "/closed-loop-model.yaml")
            let command =
                (["handoff closed-loop", scenario] + overrides.map { "--set \($0)" }
                + [
                    "--thresholds \(thresholds) --fit \(fit) --concurrency \(concurrency) --sample \(sample) --max-tokens \(maxTokens) --out \(out)"
                ]).joined(separator: " ")
            try FileIO.writeAtomically(
                ClosedLoopReport.markdown(model: model, cells: cells, command: command, load: load),
                to: out + "/README.md")
            try FileIO.writeAtomically(
                ClosedLoopReport.html(model: model, cells: cells, command: command, load: load), to: out + "/index.html"
            )
            emit(ClosedLoopReport.table(cells))
        }
    }
}
