import ArgumentParser
import Foundation
import Handoff

struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Create, convert and inspect token-difficulty traces (docs/traces.md).",
        subcommands: [Synth.self, Convert.self, Inspect.self, ImportSplitReason.self, ImportRequests.self])

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a seeded synthetic trace (distributions in docs/traces.md).",
            discussion:
                "Parameters come from the scenario's trace.synthetic section; override them with --set trace.synthetic.FIELD=value."
        )
        @Argument(help: "Scenario whose trace.synthetic section to use (default: the embedded default).") var scenario:
            String?
        @Option(
            name: .customLong("set"),
            help: ArgumentHelp("Override a field, e.g. trace.synthetic.requests=1000.", valueName: "path=value"))
        var overrides: [String] = []
        @Option(name: [.short, .long], help: "Output: a .jsonl file, or a directory for the columnar form.") var output:
            String
        @Option(help: "Difficulty dtype of the columnar form: u1, f2 or f4.") var dtype: String = "f2"
        @OptionGroup var outputOptions: OutputOptions
        func run() throws {
            try guarded {
                let sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
                guard case .synthetic(let spec) = sc.trace else {
                    throw HandoffError.input("the scenario's trace is a file, not trace.synthetic", field: "trace")
                }
                try outputOptions.trace(output, "--output", inputs: [scenario])
                if output.hasSuffix(".jsonl") {
                    try writeTrace(spec.generate(), to: output, dtype: dtype)
                    return
                }
                // The columnar form is written while it is generated: memory does not grow with the tokens.
                guard let dt = DifficultyColumn.DType(rawValue: dtype) else {
                    throw HandoffError.input("'\(dtype)' is not one of u1, f2, f4", field: "--dtype")
                }
                let n = try TraceColumnar.writeStreaming(spec, to: output, dtype: dt)
                FileHandle.standardError.write(
                    Data("wrote \(output): \(n.requests) requests, \(n.tokens) output tokens\n".utf8))
            }
        }
    }

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert between JSONL and the columnar (.npy) form.",
            discussion:
                "The direction follows OUTPUT: a path ending in .jsonl gets JSONL, anything else a columnar directory.")
        @Argument(help: "Input trace (JSONL file or columnar directory).") var input: String
        @Argument(help: "Output path.") var output: String
        @Option(help: "Difficulty dtype of the columnar form: u1 (q/255), f2 or f4.") var dtype: String = "f2"
        @OptionGroup var outputOptions: OutputOptions
        func run() throws {
            try guarded {
                try outputOptions.trace(output, "OUTPUT", inputs: [input])
                try writeTrace(try TraceReader.read(path: input), to: output, dtype: dtype)
            }
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a trace: requests, tokens, length percentiles, difficulty histogram.")
        @Argument(help: "Trace (JSONL file or columnar directory).") var input: String
        @Option(help: "Output format.") var format: TableOrJSON = .table
        func run() throws {
            try guarded {
                let stats = TraceStatistics.compute(try TraceReader.read(path: input))
                if format == .json {
                    emit(JSONWriter.write(stats, pretty: true) + "\n")
                    return
                }
                emit(
                    SimulationOutput.flatten(stats).map {
                        "\($0.0.padding(toLength: 28, withPad: " ", startingAt: 0)) \($0.1)"
                    }.joined(separator: "\n") + "\n")
            }
        }
    }

    struct ImportSplitReason: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-splitreason",
            abstract: "Import text annotated with <bigmodel>…</bigmodel> spans (also <\\bigmodel>).")
        @Argument(help: "JSONL with response/text fields, or a plain text file.") var input: String
        @Option(name: [.short, .long], help: "Output trace path (.jsonl or columnar directory).") var output: String
        @OptionGroup var outputOptions: OutputOptions
        func run() throws {
            try guarded {
                try outputOptions.trace(output, "--output", inputs: [input])
                try writeTrace(try SplitReasonImport.read(path: input), to: output, dtype: "u1")
            }
        }
    }
}

extension TraceCommand {
    struct ImportRequests: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-requests",
            abstract:
                "Import a public production request trace (Azure LLM 2023/2024, BurstGPT, Mooncake) for traffic.arrival: replay.",
            discussion: """
                Takes each request's arrival time and prompt and output lengths (rebased to the first arrival; requests \
                with no output tokens are skipped and counted). A request log says nothing about how hard each token \
                is, nor whether a model answers it right. So by default the trace has no difficulty profiles \
                (difficulty_source: none): single-tier policies simulate on it and report no accuracy, and policies \
                that decide by difficulty refuse it. Give it profiles with --difficulty-from a recorded trace of your \
                own (sampled by length class, with its labels), or opt in to invented ones with \
                --synthetic-difficulty (the burst process of the scenario's trace.synthetic section, docs/traces.md; \
                every figure computed from them is marked synthetic). \
                Simulate the output OUT with --set "trace={file: OUT}" --set "traffic={arrival: replay}" (whole new \
                sections: trace.file=OUT would keep the scenario's trace.synthetic beside it, and traffic.arrival=replay \
                its rate_rps, which scales the replay to that rate). See docs/traces.md.
                Example: handoff trace import-requests --format azure AzureLLMInferenceTrace_conv.csv --duration 600 \
                --synthetic-difficulty -o az.jsonl
                Example: handoff simulate --set "trace={file: $PWD/az.jsonl}" --set "traffic={arrival: replay}"
                """)
        @Option(help: "azure (TIMESTAMP,ContextTokens,GeneratedTokens), burstgpt, or mooncake (JSONL).") var format:
            String
        @Argument(help: "The trace file.") var input: String
        @Option(name: [.short, .long], help: "Output trace path (.jsonl or columnar directory).") var output: String
        @Option(help: "Replay k times faster (arrival times divided by k).") var speed: Double = 1
        @Option(help: "Keep arrivals from this many seconds after the first.") var start: Double = 0
        @Option(help: "Keep this many seconds of arrivals, a plain number: 600 for ten minutes (default: to the end).")
        var duration: Double?
        @Option(help: "Keep at most this many requests (after --start and --duration).") var limit: Int?
        @Option(
            help: "Sample difficulty profiles from this recorded trace by length class instead of synthesising them.")
        var difficultyFrom: String?
        @Flag(
            help:
                "Invent difficulty profiles and labels with the scenario's synthetic generator (marked synthetic in every output)."
        )
        var syntheticDifficulty = false
        @Option(
            help:
                "Scenario whose trace.synthetic section shapes synthetic difficulties (default: the embedded default).")
        var scenario: String?
        @Option(
            name: .customLong("set"),
            help: ArgumentHelp("Override a field, e.g. trace.synthetic.seed=3.", valueName: "path=value"))
        var overrides: [String] = []
        @Option(help: "Difficulty dtype of the columnar form: u1, f2 or f4.") var dtype: String = "f2"
        @OptionGroup var outputOptions: OutputOptions

        func validate() throws {
            guard RequestImport.Format(rawValue: format) != nil else {
                throw ValidationError(
                    "--format must be one of \(RequestImport.Format.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'"
                )
            }
            guard !(syntheticDifficulty && difficultyFrom != nil) else {
                throw ValidationError("--synthetic-difficulty and --difficulty-from exclude each other: choose one")
            }
            guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be a positive number") }
            guard start >= 0, (duration ?? 1) > 0, (limit ?? 1) >= 1 else {
                throw ValidationError("--start must be ≥ 0, --duration > 0 and --limit ≥ 1")
            }
        }

        func run() throws {
            try guarded {
                let f = RequestImport.Format(rawValue: format)!
                var spec: SyntheticTraceSpec? = nil
                if syntheticDifficulty {
                    spec = SyntheticTraceSpec()
                    let sc = try ScenarioLoader.load(path: scenario, overrides: overrides)
                    if case .synthetic(let s) = sc.trace { spec = s }
                }
                let recorded = try difficultyFrom.map { try TraceReader.read(path: $0) }
                try outputOptions.trace(output, "--output", inputs: [input] + (difficultyFrom.map { [$0] } ?? []))
                let parsed = try RequestImport.parse(path: input, format: f)
                let rows = RequestImport.window(
                    parsed.rows, start: start, duration: duration, limit: limit, speed: speed)
                guard !rows.isEmpty else {
                    throw HandoffError.input(
                        "no request arrives in the window --start \(start) --duration \(duration.map { String($0) } ?? "∞")",
                        field: "--start")
                }
                if parsed.skippedEmpty > 0 {
                    FileHandle.standardError.write(
                        Data("skipped \(parsed.skippedEmpty) requests with no output tokens\n".utf8))
                }
                try writeTrace(
                    RequestImport.trace(rows, idPrefix: f.rawValue, synthetic: spec, recorded: recorded), to: output,
                    dtype: dtype)
            }
        }
    }
}

func writeTrace(_ t: Trace, to path: String, dtype: String) throws {
    guard let dt = DifficultyColumn.DType(rawValue: dtype) else {
        throw HandoffError.input("'\(dtype)' is not one of u1, f2, f4", field: "--dtype")
    }
    if path.hasSuffix(".jsonl") {
        try TraceJSONL.write(t, to: path)
        try OutputPath.markFile(path)
    } else {
        try TraceColumnar.write(t, to: path, dtype: dt)
    }
    FileHandle.standardError.write(
        Data("wrote \(path): \(t.count) requests, \(t.totalOutputTokens) output tokens\n".utf8))
}
