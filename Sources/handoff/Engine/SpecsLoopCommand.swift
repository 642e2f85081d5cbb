import ArgumentParser
import Foundation
import Handoff

struct SpecsLoopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "specs-loop",
        abstract: "Run SPECS live over beam widths, with the small-only, large-only and target-beam-search baselines.",
        discussion: """
            Per concurrency, beam width and rejection threshold, runs the trace's first --sample prompts with SPECS \
            against the scenario's small and large servers: per step, the small server samples n candidate steps \
            (a step ends at a blank line or at --step-tokens), the scorer rates them, the best is kept when its score \
            reaches the threshold, otherwise the large server writes the step the same way and keeps writing until a \
            step's best score passes the switch-back threshold. The scorer is the large model asked whether the step \
            is correct (P(Yes) of one token): this llama-server returns no prompt log-probabilities, so the paper's \
            likelihood-ratio score cannot be computed; every output names the scorer. The baselines run the same \
            prompts: small-only and large-only greedy, and target beam search (the large model samples n candidates \
            per step, the scorer keeps the best) at each width. Answers are graded against the prompts' answers. \
            Every cell is journaled in OUT/runs/<cell>/samples.jsonl (a rerun resumes); writes OUT/specs-loop.json, \
            OUT/specs-model.yaml (the fitted model), OUT/README.md and OUT/index.html (SVG charts). See docs/specs.md.
            """)
    @Argument(help: "Scenario with servers under engine.small.url and engine.large.url and a recorded trace with prompts.")
    var scenario: String = "Scenarios/qwen-specs.yaml"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Beam widths (comma-separated).") var widths: String = "1,2,4"
    @Option(help: "Beam widths the SPECS model is fitted on; the others are held out.") var fit: String = "1,4"
    @Option(help: "Rejection thresholds (comma-separated, in [0, 1]); the switch-back threshold is the same.")
    var thresholds: String = "0.85"
    @Option(help: "Concurrencies (comma-separated).") var concurrency: String = "1"
    @Option(help: "Baselines to run on the same prompts: small, large, beam (target beam search at each width), or none.")
    var baselines: String = "small,large,beam"
    @Option(help: "Prompts per cell (the trace's first N).") var sample: Int = 24
    @Option(help: "Tokens per step at most (a step also ends at a blank line).") var stepTokens: Int = 64
    @Option(help: "Output cap per request.") var maxTokens: Int = 256
    @Option(help: "Sampling temperature of the candidates.") var temperature: Double = 0.7
    @Option(help: "Output folder.") var out: String = "Reports/qwen-specs"
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var output: OutputOptions

    func ints(_ s: String, _ field: String) throws -> [Int] {
        try s.split(separator: ",").map { x -> Int in
            guard let v = Int(x.trimmingCharacters(in: .whitespaces)), v >= 1, v <= 64 else {
                throw HandoffError.input("expected comma-separated integers in 1...64, got '\(s)'", field: field)
            }
            return v
        }
    }

    func cells() throws -> [SpecsLoop.CellSpec] {
        let ws = try ints(widths, "--widths")
        let cs = try ints(concurrency, "--concurrency")
        let taus = try thresholds.split(separator: ",").map { x -> Double in
            guard let v = Double(x.trimmingCharacters(in: .whitespaces)), v >= 0, v <= 1 else {
                throw HandoffError.input("expected comma-separated numbers in [0, 1], got '\(thresholds)'", field: "--thresholds")
            }
            return v
        }
        let base = Set(baselines.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        for b in base where !["small", "large", "beam", "none"].contains(b) {
            throw HandoffError.input("expected small, large, beam or none, got '\(b)'", field: "--baselines")
        }
        var out: [SpecsLoop.CellSpec] = []
        for c in cs {
            for w in ws { for t in taus { out.append(.init(arm: .specs(width: w, threshold: t, switchBack: t), concurrency: c)) } }
            for tier in ["small", "large"] where base.contains(tier) { out.append(.init(arm: .greedy(tier: tier), concurrency: c)) }
            if base.contains("beam") { for w in ws { out.append(.init(arm: .targetBeam(width: w), concurrency: c)) } }
        }
        return out
    }

    func run() async throws {
        try await guardedAsync {
            let specs = try cells()
            let fitWidths = Set(try ints(fit, "--fit"))
            let ws = try ints(widths, "--widths")
            for w in fitWidths.sorted() where !ws.contains(w) {
                throw HandoffError.input("\(w) is not among --widths \(widths)", field: "--fit")
            }
            guard sample >= 1, maxTokens >= 1, stepTokens >= 1 else {
                throw HandoffError.input("expected --sample, --max-tokens and --step-tokens ≥ 1")
            }
            guard temperature > 0, temperature <= 2 else {
                throw HandoffError.input("expected a temperature in (0, 2]: the candidates must differ", field: "--temperature")
            }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            let sc = try family.scenario()
            let trace = try Simulation.loadTrace(sc)
            guard sample <= trace.count else {
                throw HandoffError.input("--sample \(sample) is out of range: the trace has \(trace.count) requests", field: "--sample")
            }
            let prompts = try (0..<sample).map { r -> (index: Int, prompt: Prompt) in
                let q = trace.requests[r]
                guard let text = q.prompt else {
                    throw HandoffError.input("trace request \(q.id) has no prompt text; record the trace with `handoff record`")
                }
                return (r, Prompt(id: q.id, text: text, answer: q.answer, heldOut: q.heldOut))
            }
            var clients: [String: OpenAIClient] = [:]
            var templates: [String: PromptTemplate] = [:]
            for tier in ["small", "large"] {
                guard let u = sc.engine[tier]?.url else {
                    throw HandoffError.input("specs-loop needs a server for the \(tier) tier", field: "engine.\(tier).url")
                }
                clients[tier] = try serverOptions.client(u, tier: tier, scenario: sc)
                templates[tier] = PromptTemplate(rawValue: sc.engine[tier]?.template ?? "server") ?? .server
            }
            try output.prepare(out, "--out", inputs: [scenario, sc.trace.path], ownNames: SpecsLoop.fileNames)
            var runner = SpecsRunner(clients: clients, templates: templates, stepTokens: stepTokens, maxTokens: maxTokens)
            runner.temperature = temperature
            runner.seed = sc.seed
            let loop = SpecsLoop(runner: runner, scenario: sc, prompts: prompts, cells: specs, outDir: out)
            let progress = Progress("specs-loop")
            var result = try await loop.run { progress.note($0) }
            progress.finish()
            var model = try SpecsLoop.fit(result, widths: fitWidths, trace: trace, maxTokens: maxTokens)
            model.scorePromptTokens = SpecsLoop.judgePromptTokens(result, widths: fitWidths, scenario: sc)
            for k in result.indices {
                if case .specs(let n, _, _) = result[k].spec.arm { result[k].heldOut = !fitWidths.contains(n) }
                result[k].prediction = try SpecsLoop.predict(model, cell: result[k], trace: trace, seed: sc.seed, family: family)
            }
            try FileIO.writeAtomically(SpecsReport.modelYAML(model), to: out + "/specs-model.yaml")
            let command =
                (["handoff specs-loop", scenario] + overrides.map { "--set \($0)" }
                + [
                    "--widths \(widths) --fit \(fit) --thresholds \(thresholds) --concurrency \(concurrency) --baselines \(baselines) --sample \(sample) --step-tokens \(stepTokens) --max-tokens \(maxTokens) --out \(out)"
                ]).joined(separator: " ")
            try writeJSON(SpecsReport.json(result, runner: runner, model: model), to: out, name: "specs-loop.json")
            try FileIO.writeAtomically(SpecsReport.markdown(result, runner: runner, command: command, model: model), to: out + "/README.md")
            try FileIO.writeAtomically(SpecsReport.html(result, runner: runner, command: command, model: model), to: out + "/index.html")
            emit(SpecsReport.table(result))
        }
    }
}
