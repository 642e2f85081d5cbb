import ArgumentParser
import Foundation
import Handoff

/// Progress on stderr when it is a terminal (and a final line either way).
final class Progress: @unchecked Sendable {
    let label: String
    let tty = isatty(2) != 0
    let start = Monotonic.now()
    let lock = NSLock()
    init(_ label: String) { self.label = label }
    func update(_ done: Int, _ total: Int, _ extra: String = "") {
        lock.lock(); defer { lock.unlock() }
        let el = Monotonic.now() - start
        let eta = done > 0 ? el / Double(done) * Double(total - done) : 0
        let line = String(format: "%@: %d/%d%@, %.0f s elapsed, ETA %.0f s", label, done, total, extra, el, eta)
        if tty { FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8)); if done == total { FileHandle.standardError.write(Data("\n".utf8)) } }
        else if done == total { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
    }
    /// A status line for searches of unknown length (on a terminal only).
    func note(_ text: String) {
        guard tty else { return }
        lock.lock(); defer { lock.unlock() }
        FileHandle.standardError.write(Data(String(format: "\r\u{1B}[K%@: %@ (%.0f s)", label, text, Monotonic.now() - start).utf8))
    }
    func finish() { if tty { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}

struct ServerOptions: ParsableArguments {
    @Option(help: "First-byte timeout per request, seconds.") var timeout: Double = 300
    @Option(help: "Retries of a refused connection or a 503, with exponential backoff.") var retries: Int = 3
    @Option(help: ArgumentHelp("Send the API key held by this environment variable (Authorization: Bearer); the key is never printed.",
                               discussion: "Overrides engine.<tier>.api_key_env.", valueName: "NAME"))
    var apiKeyEnv: String?
    @Option(help: ArgumentHelp("PEM file of the CA(s) that vouch for an https:// server (a private CA or a self-signed certificate); default: the system's store.",
                               valueName: "FILE"))
    var cacert: String?

    /// A client of `url`; the scenario's engine section for `tier` supplies the key variable and
    /// CA file unless the command line names them.
    func client(_ url: String, tier: String? = nil, scenario: Scenario? = nil) throws -> OpenAIClient {
        var spec = tier.flatMap { scenario?.engine[$0] } ?? .defaults
        if let cacert {
            guard FileManager.default.isReadableFile(atPath: cacert) else {
                throw HandoffError.input("cannot read '\(cacert)'; expected a PEM file of CA certificates", field: "--cacert")
            }
            spec.caFile = cacert
        }
        var connection: ConnectionOptions
        if let apiKeyEnv {
            spec.apiKeyEnv = nil
            connection = try spec.connection(tier: tier ?? "server")
            guard let key = ProcessInfo.processInfo.environment[apiKeyEnv], !key.isEmpty else {
                throw HandoffError.input("the environment variable \(apiKeyEnv) is not set (or empty); expected the server's API key", field: "--api-key-env")
            }
            connection.apiKey = key
        } else {
            connection = try spec.connection(tier: tier ?? "server")
        }
        return try OpenAIClient(base: url, firstByteTimeout: timeout, idleTimeout: max(60, timeout / 2), retries: retries, connection: connection)
    }
}

struct Record: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record a token-difficulty trace: prompts through the small model's server.",
        discussion: """
        Streams each prompt (greedy, with top-k log-probabilities) and writes one trace line per prompt: \
        difficulty per generated token = 1 − p(top-1), the prompt's token count, and under `measured` the \
        per-token arrival times, TTFT, end-to-end latency, the server's timings, the text, and whether the \
        answer was right when the prompt file has answers (small_correct). Generation ends at the model's end of \
        sequence or at --max-tokens. With --label-server, every prompt also runs on the large model alone, which \
        labels large_correct and large_output_tokens (its text and timings go under measured.large). See docs/engine.md.
        """)
    @Option(help: "Prompts (JSONL: id, prompt, answer); default: the shipped arithmetic set Scenarios/data/arith-prompts.jsonl.") var prompts: String = "Scenarios/data/arith-prompts.jsonl"
    @Option(help: "The small model's server (OpenAI-compatible).") var server: String = "http://127.0.0.1:8081"
    @Option(help: "The large model's server: also run every prompt there alone, to label large_correct and large_output_tokens from a real run.")
    var labelServer: String?
    @Option(help: "Prompt template on the label server: server, chatml or raw.") var labelTemplate: String = "server"
    @Option(name: [.short, .long], help: "Output trace (.jsonl, or a directory for the columnar form).") var output: String
    @Option(help: "Record only the first N prompts.") var limit: Int?
    @Option(help: "Maximum tokens generated per prompt.") var maxTokens: Int = 256
    @Option(help: "Top-k log-probabilities per token (1–20).") var topK: Int = 5
    @Option(help: "Requests in flight (1 gives clean per-token times).") var concurrency: Int = 1
    @Option(help: "Prompt template: server (/apply-template), chatml or raw.") var template: String = "server"
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() async throws {
        try await guardedAsync {
            guard let tpl = PromptTemplate(rawValue: template) else { throw HandoffError.input("'\(template)' is not server, chatml or raw", field: "--template") }
            guard (1...20).contains(topK) else { throw HandoffError.input("expected 1–20", field: "--top-k") }
            guard maxTokens >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--max-tokens") }
            try outputOptions.trace(output, "--output", inputs: [prompts])
            var ps = try PromptSet.read(path: prompts)
            if let limit { ps = Array(ps.prefix(limit)) }
            var rec = Recorder(client: try serverOptions.client(server))
            if let labelServer {
                rec.labelClient = try serverOptions.client(labelServer)
                guard let lt = PromptTemplate(rawValue: labelTemplate) else { throw HandoffError.input("'\(labelTemplate)' is not server, chatml or raw", field: "--label-template") }
                rec.labelTemplate = lt
            }
            rec.maxTokens = maxTokens; rec.topK = topK; rec.concurrency = concurrency; rec.template = tpl
            let progress = Progress("record")
            let trace = try await rec.record(ps) { d, t, tokens in progress.update(d, t, ", \(tokens) tokens") }
            try writeTrace(trace, to: output, dtype: "f4")
            for (tier, judged) in [("small", trace.requests.compactMap(\.smallCorrect)), ("large", trace.requests.compactMap(\.largeCorrect))] where !judged.isEmpty {
                let k = judged.filter { $0 }.count
                FileHandle.standardError.write(Data(String(format: "%@ model correct on %d of %d prompts (%.3f)\n", tier, k, judged.count, Double(k) / Double(judged.count)).utf8))
            }
        }
    }
}

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
    @Argument(help: "Scenario YAML (its trace must be recorded with prompts, e.g. by `handoff record`).") var scenario: String
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable), e.g. policy.name=small-only.", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "The small tier's server (default: engine.small.url in the scenario).") var small: String?
    @Option(help: "The large tier's server (default: engine.large.url in the scenario).") var large: String?
    @Option(help: "Requests to run (the first N of the trace).") var sample: Int = 8
    @Option(help: "Requests in flight (closed loop).") var concurrency: Int = 1
    @Option(help: "Passes over the sample; figures are medians over passes (a shared machine is noisy).") var repeats: Int = 1
    @Option(help: "natural: a request ends where the model ends it (end of sequence or --max-tokens), the closed loop; recorded: force each request's recorded length (isolates the serving model; for models whose text does not matter).")
    var lengths: Validator.Lengths = .natural
    @Option(help: "Output cap per request with natural lengths (record the trace with the same cap).") var maxTokens: Int = 256
    @Option(help: "Output folder (samples.jsonl, report.md, validation.json); default Reports/validate-<scenario>-<policy>-c<C>.") var out: String?
    @Option(help: "table or json.") var format: OutputFormat = .table
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            guard concurrency >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--concurrency") }
            let sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
            let trace = try Simulation.loadTrace(sc)
            var clients: [String: OpenAIClient] = [:]
            for (tier, url) in [("small", small), ("large", large)] {
                if let u = url ?? sc.engine[tier]?.url { clients[tier] = try serverOptions.client(u, tier: tier, scenario: sc) }
            }
            let dir = out ?? "Reports/validate-\(sc.name)-\(sc.policy.name)-c\(concurrency)"
            guard repeats >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--repeats") }
            guard maxTokens >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--max-tokens") }
            try output.directory(dir, "--out", inputs: [scenario, sc.trace.path], ownNames: Validator.fileNames, inPlace: true)
            var v = Validator(scenario: sc, trace: trace, clients: clients, sample: sample, concurrency: concurrency, outDir: dir, repeats: repeats)
            v.lengths = lengths; v.maxTokens = maxTokens
            let progress = Progress("validate \(sc.policy.name)")
            let samples = try await v.runReal { d, t in progress.update(d, t) }
            let report = try ValidationReport.make(v, samples)
            try writeJSON(report.json, to: dir, name: "validation.json")
            try writeJSON(v.vllmBench(samples), to: dir, name: "vllm-bench.json")
            try FileIO.writeAtomically("# Validation: \(sc.name)\n\nScenario `\(scenario)`\(overrides.isEmpty ? "" : " with " + overrides.map { "`--set \($0)`" }.joined(separator: " ")).\n\n" + report.markdown, to: dir + "/report.md")
            emit(format == .json ? JSONWriter.write(report.json, pretty: true) + "\n" : report.table)
        }
    }
}

extension Validator.Lengths: ExpressibleByArgument {}
extension Calibrator.Timing: ExpressibleByArgument {}

struct Calibrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a server's latency law (linear) from probe runs; write a calibration file.",
        discussion: """
        Probes prompt lengths (prefill) and concurrent decodes at two context lengths, reads the server's \
        own timings (llama.cpp), or with --timing client the client's clock (time to first token, gaps between \
        streamed tokens: any OpenAI-compatible server, vLLM and SGLang included), and fits fixed + per-prefill-token + prefill-attention + per-sequence + per-context-token \
        costs by weighted least squares (GSL); small prefill batches (--small-prefill) are measured into a \
        table instead, since CPU kernels for a few tokens cost nearly a decode step per token. A scenario uses the file with \
        `tiers.NAME.latency: {calibration: FILE}`.
        """)
    @Option(help: "The server to probe.") var server: String = "http://127.0.0.1:8081"
    @Option(name: [.short, .long], help: "Calibration file to write (YAML).") var output: String
    @Option(help: "Prefill probe lengths (comma-separated tokens; mix lengths on and off multiples of 16).") var prefill: String = "24,60,100,200,360,700,1030"
    @Option(help: "Small prefill batches probed one by one after a cached prefix (prefill_ms_by_tokens: the cost of verifying draft tokens); must run 1, 2, … without gaps to be used.")
    var smallPrefill: String = "1,2,3,4,5,6,7,8,9,10,11,12"
    @Option(help: "Decode probe concurrencies (≤ the server's --parallel).") var batches: String = "1,2,3,4"
    @Option(help: "Decode probe context lengths.") var contexts: String = "32,512"
    @Option(help: "Tokens generated per decode probe.") var decodeTokens: Int = 64
    @Option(help: "Repeats per probe (the median is fitted; a shared machine's speed wanders by ±20% from one probe to the next).") var repeats: Int = 5
    @Option(help: "Tokens per prefill iteration (llama.cpp --ubatch-size).") var ubatch: Int = 512
    @Option(help: "Top-k log-probabilities per token, as the tier is served (a small tier whose difficulties drive offload: 5).") var topLogprobs: Int = 0
    @Option(help: "Whose clock to fit: server (llama.cpp's `timings`) or client (time to first token and token gaps; servers without timings).")
    var timing: Calibrator.Timing = .server
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() async throws {
        try await guardedAsync {
            func ints(_ s: String, _ field: String) throws -> [Int] {
                let xs = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !xs.isEmpty, xs.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw HandoffError.input("expected comma-separated integers ≥ 1, got '\(s)'", field: field) }
                return xs.map { $0! }
            }
            try outputOptions.file(output, "--output")
            var d = Calibrator.Design()
            d.prefillLengths = try ints(prefill, "--prefill"); d.decodeBatches = try ints(batches, "--batches")
            d.smallPrefillTokens = try ints(smallPrefill, "--small-prefill")
            d.decodeContexts = try ints(contexts, "--contexts"); d.decodeTokens = decodeTokens; d.repeats = max(1, repeats); d.ubatch = ubatch; d.topLogprobs = topLogprobs
            d.timing = timing
            let client = try serverOptions.client(server)
            let cal = Calibrator(client: client, design: d)
            let progress = Progress("calibrate")
            var probes = try await cal.measure { a, b in progress.update(a, b) }
            let coef = try Calibrator.fit(&probes, design: d)
            var model = "unknown"
            if let (_, props) = try? await client.getJSON("props"), case let .string(m)? = props?["model_path"] { model = m }
            try FileIO.writeAtomically(Calibrator.yaml(server: server, model: model, coefficients: coef, probes: probes, timing: timing), to: output)
            var s = "calibrated \(server) (\(model)):\n"
            s += String(format: "  fixed_ms               %.4g\n  prefill_ms_per_token   %.4g\n  prefill_attention_ms   %.4g\n", coef.fixedMs, coef.prefillMsPerToken, coef.prefillAttentionMs)
            s += "  decode_ms_by_batch     " + coef.decodeMsByBatch.map { String(format: "%.3g", $0) }.joined(separator: ", ") + "\n"
            if !coef.prefillMsByTokens.isEmpty { s += "  prefill_ms_by_tokens   " + coef.prefillMsByTokens.map { String(format: "%.3g", $0) }.joined(separator: ", ") + "\n" }
            s += String(format: "  ms_per_context_token   %.4g\n", coef.msPerContextToken)
            s += "probe             measured ms   fitted ms   error %\n"
            for p in probes {
                s += "  \(p.kind) n=\(p.tokens) B=\(p.batch)".padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(format: "%10.2f  %10.2f  %+7.1f\n", p.measuredMs, p.fittedMs, (p.fittedMs - p.measuredMs) / p.measuredMs * 100)
            }
            emit(s + "wrote \(output)\n")
        }
    }
}

struct EngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engine", abstract: "Start the local llama.cpp servers installed by scripts/install-engine.",
                                                    subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run llama-server on 127.0.0.1 with an installed model until interrupted.",
            discussion: "Models: qwen-small (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) and qwen-large (Qwen2.5-Coder-1.5B-Instruct Q4_K_M), the real pair for closed-loop offload; small (SmolLM2-135M Q8_0) and large (random-weight 1.07B llama, latency only) for speculative and SPECS timing; gemma (Gemma-3-270M); or a .gguf path. Prints the KV-cache bytes the server allocated.")
        @Argument(help: "Model name or path.") var model: String = "small"
        @Option(help: "Port.") var port: Int = 8081
        @Option(help: "Parallel slots (continuous batching).") var parallel: Int = 4
        @Option(help: "Context tokens (KV cells, shared by the slots).") var ctx: Int = 8192
        @Option(help: "Threads.") var threads: Int = 2
        @Option(help: "Pin to these CPUs (taskset -c), e.g. 0 or 1.") var cpus: String?
        @Option(help: "Server log file.") var log: String?
        @Flag(inversion: .prefixedNo, help: "One KV buffer shared by the slots (llama.cpp -kvu); without it a prompt joining running decodes is split into per-sequence ubatches.")
        var kvUnified = true
        func run() async throws {
            try await guardedAsync {
                let inst = try EngineInstall.locate()
                let o = LlamaServer.Options(model: try inst.model(model), port: port, parallel: parallel, contextTokens: ctx, threads: threads, cpus: cpus, kvUnified: kvUnified)
                let logPath = log ?? NSTemporaryDirectory() + "handoff-llama-\(port).log"
                let s = try await LlamaServer.start(o, install: inst, logPath: logPath)
                emit("serving \(o.model) at \(s.url) (pid \(s.process.processIdentifier), log \(logPath))\n")
                if let kv = s.kvCacheBytes() { emit(String(format: "KV cache allocated: %.0f bytes (%.2f MiB)\n", kv, kv / 1_048_576)) }
                signal(SIGINT) { _ in serveStopRequested = 1 }
                signal(SIGTERM) { _ in serveStopRequested = 1 }
                while s.process.isRunning && serveStopRequested == 0 { try await Task.sleep(nanoseconds: 200_000_000) }
                if !s.process.isRunning { throw HandoffError("llama-server exited with status \(s.process.terminationStatus); see \(logPath)", exitCode: 1) }
                s.stop()
            }
        }
    }
}

/// Set by the SIGINT/SIGTERM handler of `engine serve` (a plain store: async-signal-safe).
nonisolated(unsafe) var serveStopRequested: sig_atomic_t = 0

struct PromptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prompts", abstract: "Prompt sets with reference answers.", subcommands: [Generate.self])
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate word problems with exact answers (JSONL: id, prompt, answer, held_out).",
            discussion: "--kind arith: one to three additions, subtractions and multiplications of counts (Scenarios/data/arith-prompts.jsonl). --kind multistep: two or three operations with prices and change, units, remainders and time differences; every fourth prompt is held out (Scenarios/data/multistep-prompts.jsonl).")
        @Option(help: "arith or multistep.") var kind: String = "multistep"
        @Option(help: "How many.") var count: Int = 200
        @Option(help: "Seed.") var seed: UInt64 = 7
        @Option(name: [.short, .long], help: "Output JSONL.") var output: String
        @OptionGroup var outputOptions: OutputOptions
        func run() throws {
            try guarded {
                try outputOptions.file(output, "--output")
                guard count >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--count") }
                let ps: [Prompt]
                switch kind {
                case "arith": ps = PromptSet.arithmetic(count: count, seed: seed)
                case "multistep": ps = WordProblems.generate(count: count, seed: seed)
                default: throw HandoffError.input("'\(kind)' is not arith or multistep", field: "--kind")
                }
                try FileIO.writeAtomically(ps.map(PromptSet.line).joined(separator: "\n") + "\n", to: output)
            }
        }
    }
}

struct ValidateSpeculative: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate-speculative",
        abstract: "Run speculative decoding for real in llama-server at forced acceptance rates; compare with the simulator.",
        discussion: """
        One llama-server per cell: the target (models/large) with the draft (models/small, -md, --spec-type \
        draft-simple) drafting k tokens, acceptance forced by --spec-synth-rates α,α²,…; k = 0 is the target \
        alone. Each cell runs the first --sample prompts one at a time with --max-tokens each; the same \
        requests (prompt tokens from the server) are simulated under the scenario's latency laws with the \
        speculative policy at (k, α). Writes OUT/validation.json and OUT/report.md. Needs ./scripts/install-engine.
        """)
    @Argument(help: "Scenario with small (draft) and large (target) tiers.") var scenario: String = "Scenarios/speculative-llamacpp.yaml"
    @Option(help: "Draft lengths k (0 = no speculation).") var draftTokens: String = "0,2,4"
    @Option(help: "Acceptance rates α.") var acceptance: String = "0.3,0.6,0.9"
    @Option(help: "Prompts per cell.") var sample: Int = 3
    @Option(help: "Tokens generated per request.") var maxTokens: Int = 64
    @Option(help: "Prompt file (JSONL: id, text).") var prompts: String = "Scenarios/data/arith-prompts.jsonl"
    @Option(help: "Port for the server.") var port: Int = 8093
    @Option(help: "Output folder.") var out: String = "Reports/speculative-llamacpp"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            let ks = try draftTokens.split(separator: ",").map { s -> Int in
                guard let k = Int(s.trimmingCharacters(in: .whitespaces)), k >= 0, k <= 16 else { throw HandoffError.input("expected integers 0…16", field: "--draft-tokens \(draftTokens)") }
                return k
            }
            let alphas = try acceptance.split(separator: ",").map { s -> Double in
                guard let a = Double(s.trimmingCharacters(in: .whitespaces)), a >= 0, a <= 1 else { throw HandoffError.input("expected numbers in [0, 1]", field: "--acceptance \(acceptance)") }
                return a
            }
            guard sample >= 1, maxTokens >= 2 else { throw HandoffError.input("expected --sample ≥ 1 and --max-tokens ≥ 2") }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            _ = try family.scenario(["policy.name=speculative"])
            let ps = Array(try PromptSet.read(path: prompts).prefix(sample))
            var cells: [SpeculativeValidation.Cell] = []
            for k in ks { if k == 0 { cells.append(.init(k: 0, alpha: 0)) } else { for a in alphas { cells.append(.init(k: k, alpha: a)) } } }
            try output.prepare(out, "--out", inputs: [scenario, prompts], ownNames: SpeculativeValidation.fileNames(cells))
            let v = SpeculativeValidation(family: family, install: try EngineInstall.locate(), prompts: ps, maxTokens: maxTokens, port: port, outDir: out)
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
        abstract: "Run SPECS steps for real (n draft candidates, target prefill scoring) on two llama-servers; compare step latencies with the simulator.",
        discussion: """
        The draft server (models/small, core 0) samples --beam-width candidate steps of --step-tokens tokens as \
        concurrent completions; the target server (models/large, core 1) scores each candidate by prefill only \
        (max_tokens 1). Candidate 0 is kept and the next step starts. The same requests (prompt tokens from the \
        server) are simulated with policy specs at acceptance 1 and reward_tier large. Writes OUT/validation.json \
        and OUT/report.md. Needs ./scripts/install-engine.
        """)
    @Argument(help: "Scenario with small (draft) and large (target) tiers.") var scenario: String = "Scenarios/specs-llamacpp.yaml"
    @Option(help: "Candidates per step (n).") var beamWidth: Int = 4
    @Option(help: "Tokens per step (L).") var stepTokens: Int = 16
    @Option(help: "Steps per request.") var steps: Int = 4
    @Option(help: "Prompts.") var sample: Int = 3
    @Option(help: "Prompt file (JSONL: id, text).") var prompts: String = "Scenarios/data/arith-prompts.jsonl"
    @Option(help: "Port of the draft server (the target uses the next one).") var port: Int = 8095
    @Option(help: "Output folder.") var out: String = "Reports/specs-llamacpp"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a scenario field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await guardedAsync {
            guard (1...8).contains(beamWidth), (1...256).contains(stepTokens), (1...64).contains(steps), sample >= 1 else {
                throw HandoffError.input("expected --beam-width 1…8, --step-tokens 1…256, --steps 1…64, --sample ≥ 1")
            }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            _ = try family.scenario(["policy.name=specs", "policy.reward_tier=large"])
            let ps = Array(try PromptSet.read(path: prompts).prefix(sample))
            try output.prepare(out, "--out", inputs: [scenario, prompts], ownNames: SpecsValidation.fileNames)
            let v = SpecsValidation(family: family, install: try EngineInstall.locate(), prompts: ps, beamWidth: beamWidth, stepTokens: stepTokens,
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
