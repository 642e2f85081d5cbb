import ArgumentParser
import Foundation
import Handoff

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a scenario's policy for real on a sample, simulate the same requests, and compare.",
        discussion: """
            Runs small-only, large-only or splitreason (sequential) against real OpenAI-compatible servers, \
            measuring TTFT, TPOT, end-to-end latency, throughput, offload share, handoffs and accuracy; then \
            simulates the same requests with the same arrival times and prints measured, predicted and error %. \
            Finished requests are saved in OUT/samples.jsonl as they complete: after a fault, rerun the same \
            command to resume. With --format json: {"policy", "requests", "metrics": {"e2el_ms.p50": \
            {"measured", "predicted", "error_pct"}, …}}. See docs/engine.md.
            """)
    @Argument(help: "Scenario YAML (its trace must be recorded with prompts, e.g. by `handoff record`).") var scenario:
        String
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a field (repeatable), e.g. policy.name=small-only.", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "The small tier's server (default: engine.small.url in the scenario).") var small: String?
    @Option(help: "The large tier's server (default: engine.large.url in the scenario).") var large: String?
    @Option(help: "Requests to run (the first N of the trace).") var sample: Int = 8
    @Option(help: "Requests in flight (closed loop).") var concurrency: Int = 1
    @Option(help: "Passes over the sample; figures are medians over passes (a shared machine is noisy).") var repeats:
        Int = 1
    @Option(
        help:
            "natural: a request ends where the model ends it (end of sequence or --max-tokens), the closed loop; recorded: force each request's recorded length (isolates the serving model; for models whose text does not matter)."
    )
    var lengths: Validator.Lengths = .natural
    @Option(help: "Output cap per request with natural lengths (record the trace with the same cap).") var maxTokens:
        Int = 256
    @Option(
        help:
            "Output folder (samples.jsonl, report.md, validation.json); default Reports/validate-<scenario>-<policy>-c<C>."
    ) var out: String?
    @Option(help: "Output format.") var format: TableOrJSON = .table
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            guard concurrency >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--concurrency") }
            let sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
            let trace = try Simulation.loadTrace(sc)
            var clients: [String: OpenAIClient] = [:]
            for (tier, url) in [("small", small), ("large", large)] {
                if let u = url ?? sc.engine[tier]?.url {
                    clients[tier] = try serverOptions.client(u, tier: tier, scenario: sc)
                }
            }
            let dir = out ?? "Reports/validate-\(sc.name)-\(sc.policy.name)-c\(concurrency)"
            guard repeats >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--repeats") }
            guard maxTokens >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--max-tokens") }
            try output.directory(
                dir, "--out", inputs: [scenario, sc.trace.path], ownNames: Validator.fileNames, inPlace: true)
            var v = Validator(
                scenario: sc, trace: trace, clients: clients, sample: sample, concurrency: concurrency, outDir: dir,
                repeats: repeats)
            v.lengths = lengths
            v.maxTokens = maxTokens
            let progress = Progress("validate \(sc.policy.name)")
            let samples = try await v.runReal { d, t in progress.update(d, t) }
            let report = try ValidationReport.make(v, samples)
            try writeJSON(report.json, to: dir, name: "validation.json")
            try writeJSON(v.vllmBench(samples), to: dir, name: "vllm-bench.json")
            try FileIO.writeAtomically(
                "# Validation: \(sc.name)\n\nScenario `\(scenario)`\(overrides.isEmpty ? "" : " with " + overrides.map { "`--set \($0)`" }.joined(separator: " ")).\n\n"
                    + report.markdown, to: dir + "/report.md")
            emit(format == .json ? JSONWriter.write(report.json, pretty: true) + "\n" : report.table)
        }
    }
}

extension Validator.Lengths: ExpressibleByArgument {}

struct ValidateSpeculative: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-speculative",
        abstract:
            "Run speculative decoding for real in llama-server at forced acceptance rates; compare with the simulator.",
        discussion: """
            One llama-server per cell: the target (models/large) with the draft (models/small, -md, --spec-type \
            draft-simple) drafting k tokens, acceptance forced by --spec-synth-rates α,α²,…; k = 0 is the target \
            alone. Each cell runs the first --sample prompts one at a time with --max-tokens each; the same \
            requests (prompt tokens from the server) are simulated under the scenario's latency laws with the \
            speculative policy at (k, α). Writes OUT/validation.json and OUT/report.md. Needs ./scripts/install-engine.
            """)
    @Argument(help: "Scenario with small (draft) and large (target) tiers.") var scenario: String =
        "Scenarios/speculative-llamacpp.yaml"
    @Option(help: "Draft lengths k (0 = no speculation).") var draftTokens: String = "0,2,4"
    @Option(help: "Acceptance rates α.") var acceptance: String = "0.3,0.6,0.9"
    @Option(help: "Prompts per cell.") var sample: Int = 3
    @Option(help: "Tokens generated per request.") var maxTokens: Int = 64
    @Option(help: "Prompt file (JSONL: id, text).") var prompts: String = "Scenarios/data/arith-prompts.jsonl"
    @Option(help: "Port for the server.") var port: Int = 8093
    @Option(help: "Output folder.") var out: String = "Reports/speculative-llamacpp"
    @Option(
        name: .customLong("set"), help: ArgumentHelp("Override a scenario field (repeatable).", valueName: "path=value")
    )
    var overrides: [String] = []
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            let ks = try draftTokens.split(separator: ",").map { s -> Int in
                guard let k = Int(s.trimmingCharacters(in: .whitespaces)), k >= 0, k <= 16 else {
                    throw HandoffError.input("expected integers 0…16", field: "--draft-tokens \(draftTokens)")
                }
                return k
            }
            let alphas = try acceptance.split(separator: ",").map { s -> Double in
                guard let a = Double(s.trimmingCharacters(in: .whitespaces)), a >= 0, a <= 1 else {
                    throw HandoffError.input("expected numbers in [0, 1]", field: "--acceptance \(acceptance)")
                }
                return a
            }
            guard sample >= 1, maxTokens >= 2 else {
                throw HandoffError.input("expected --sample ≥ 1 and --max-tokens ≥ 2")
            }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            _ = try family.scenario(["policy.name=speculative"])
            let ps = Array(try PromptSet.read(path: prompts).prefix(sample))
            var cells: [SpeculativeValidation.Cell] = []
            for k in ks {
                if k == 0 {
                    cells.append(.init(k: 0, alpha: 0))
                } else {
                    for a in alphas { cells.append(.init(k: k, alpha: a)) }
                }
            }
            try output.prepare(
                out, "--out", inputs: [scenario, prompts], ownNames: SpeculativeValidation.fileNames(cells))
            let v = SpeculativeValidation(
                family: family, install: try EngineInstall.locate(), prompts: ps, maxTokens: maxTokens, port: port,
                outDir: out)
            let progress = Progress("validate-speculative")
            let rows = try await v.run(cells: cells) { progress.note($0) }
            progress.finish()
            let json = SpeculativeValidation.json(rows, maxTokens: maxTokens)
            try writeJSON(json, to: out, name: "validation.json")
            let table = SpeculativeValidation.table(rows)
            let md = """
                # Speculative decoding: llama-server against the simulator

                Scenario `\(scenario)`; \(sample) prompts per cell, \(maxTokens) tokens each, one at a time. Target: the
                random-weight 1.07B llama on core 1; draft: SmolLM2-135M on core 0, one thread each, in one llama-server
                (`-md`, `--spec-type draft-simple`, acceptance forced with `--spec-synth-rates α,α²,…`). Made by
                `handoff validate-speculative`. ms/token is generation time per token (the server's predicted_ms / predicted_n;
                the simulator's (E2EL − TTFT)/(n − 1)).

                \(table)
                """
            try FileIO.writeAtomically(md, to: out + "/report.md")
            emit(table)
        }
    }
}

struct ValidateSpecs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-specs",
        abstract:
            "Run SPECS steps for real (n draft candidates, target prefill scoring) on two llama-servers; compare step latencies with the simulator.",
        discussion: """
            The draft server (models/small, core 0) samples --beam-width candidate steps of --step-tokens tokens as \
            concurrent completions; the target server (models/large, core 1) scores each candidate by prefill only \
            (max_tokens 1). Candidate 0 is kept and the next step starts. The same requests (prompt tokens from the \
            server) are simulated with policy specs at acceptance 1 and reward_tier large. Writes OUT/validation.json \
            and OUT/report.md. Needs ./scripts/install-engine.
            """)
    @Argument(help: "Scenario with small (draft) and large (target) tiers.") var scenario: String =
        "Scenarios/specs-llamacpp.yaml"
    @Option(help: "Candidates per step (n).") var beamWidth: Int = 4
    @Option(help: "Tokens per step (L).") var stepTokens: Int = 16
    @Option(help: "Steps per request.") var steps: Int = 4
    @Option(help: "Prompts.") var sample: Int = 3
    @Option(help: "Prompt file (JSONL: id, text).") var prompts: String = "Scenarios/data/arith-prompts.jsonl"
    @Option(help: "Port of the draft server (the target uses the next one).") var port: Int = 8095
    @Option(help: "Output folder.") var out: String = "Reports/specs-llamacpp"
    @Option(
        name: .customLong("set"), help: ArgumentHelp("Override a scenario field (repeatable).", valueName: "path=value")
    )
    var overrides: [String] = []
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            guard (1...8).contains(beamWidth), (1...256).contains(stepTokens), (1...64).contains(steps), sample >= 1
            else {
                throw HandoffError.input("expected --beam-width 1…8, --step-tokens 1…256, --steps 1…64, --sample ≥ 1")
            }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            _ = try family.scenario(["policy.name=specs", "policy.reward_tier=large"])
            let ps = Array(try PromptSet.read(path: prompts).prefix(sample))
            try output.prepare(out, "--out", inputs: [scenario, prompts], ownNames: SpecsValidation.fileNames)
            let v = SpecsValidation(
                family: family, install: try EngineInstall.locate(), prompts: ps, beamWidth: beamWidth,
                stepTokens: stepTokens,
                steps: steps, port: port, outDir: out)
            let progress = Progress("validate-specs")
            let rows = try await v.run { progress.note($0) }
            progress.finish()
            let json = SpecsValidation.json(rows, beamWidth: beamWidth, stepTokens: stepTokens)
            try writeJSON(json, to: out, name: "validation.json")
            let table = SpecsValidation.table(rows, beamWidth: beamWidth, stepTokens: stepTokens)
            let md = """
                # SPECS steps: two llama-servers against the simulator

                Scenario `\(scenario)`; \(sample) prompts, \(steps) steps of \(stepTokens) tokens, beam width \(beamWidth). Draft: SmolLM2-135M \
                on core 0 (`--parallel \(beamWidth)`), \(beamWidth) concurrent completions per step; target: the random-weight 1.07B llama on core 1, \
                scoring each candidate by prefill (`max_tokens` 1). Made by `handoff validate-specs`. A step is the draft phase plus the \
                scoring phase, wall time; the simulator's first step ends at its TTFT.

                \(table)
                """
            try FileIO.writeAtomically(md, to: out + "/report.md")
            emit(table)
        }
    }
}
