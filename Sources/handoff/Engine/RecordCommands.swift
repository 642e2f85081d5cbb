import ArgumentParser
import Foundation
import Handoff

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
    @Option(
        help:
            "Prompts (JSONL: id, prompt, answer), by default the shipped arithmetic set."
    ) var prompts: String = "Scenarios/data/arith-prompts.jsonl"
    @Option(help: "The small model's server (OpenAI-compatible).") var server: String = "http://127.0.0.1:8081"
    @Option(
        help:
            "The large model's server: also run every prompt there alone, to label large_correct and large_output_tokens from a real run."
    )
    var labelServer: String?
    @Option(help: "Prompt template on the label server: server, chatml or raw.") var labelTemplate: String = "server"
    @Option(name: [.short, .long], help: "Output trace (.jsonl, or a directory for the columnar form).") var output:
        String
    @Option(help: "Record only the first N prompts.") var limit: Int?
    @Option(help: "Maximum tokens generated per prompt.") var maxTokens: Int = 256
    @Option(help: "Top-k log-probabilities per token (1–20).") var topK: Int = 5
    @Option(help: "Requests in flight (1 gives clean per-token times).") var concurrency: Int = 1
    @Option(help: "Prompt template: server (/apply-template), chatml or raw.") var template: String = "server"
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() async throws {
        try await guardedAsync {
            guard let tpl = PromptTemplate(rawValue: template) else {
                throw HandoffError.input("'\(template)' is not server, chatml or raw", field: "--template")
            }
            guard (1...20).contains(topK) else { throw HandoffError.input("expected 1–20", field: "--top-k") }
            guard maxTokens >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--max-tokens") }
            try outputOptions.trace(output, "--output", inputs: [prompts])
            var ps = try PromptSet.read(path: prompts)
            if let limit { ps = Array(ps.prefix(limit)) }
            var rec = Recorder(client: try serverOptions.client(server))
            if let labelServer {
                rec.labelClient = try serverOptions.client(labelServer)
                guard let lt = PromptTemplate(rawValue: labelTemplate) else {
                    throw HandoffError.input(
                        "'\(labelTemplate)' is not server, chatml or raw", field: "--label-template")
                }
                rec.labelTemplate = lt
            }
            rec.maxTokens = maxTokens
            rec.topK = topK
            rec.concurrency = concurrency
            rec.template = tpl
            let progress = Progress("record")
            let trace = try await rec.record(ps) { d, t, tokens in progress.update(d, t, ", \(tokens) tokens") }
            try writeTrace(trace, to: output, dtype: "f4")
            for (tier, judged) in [
                ("small", trace.requests.compactMap(\.smallCorrect)),
                ("large", trace.requests.compactMap(\.largeCorrect))
            ] where !judged.isEmpty {
                let k = judged.filter { $0 }.count
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "%@ model correct on %d of %d prompts (%.3f)\n", tier, k, judged.count,
                            Double(k) / Double(judged.count)
                        ).utf8))
            }
        }
    }
}

struct PromptsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompts", abstract: "Prompt sets with reference answers.", subcommands: [Generate.self])
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate word problems with exact answers (JSONL: id, prompt, answer, held_out).",
            discussion:
                "--kind arith: one to three additions, subtractions and multiplications of counts (Scenarios/data/arith-prompts.jsonl). --kind multistep: two or three operations with prices and change, units, remainders and time differences; every fourth prompt is held out (Scenarios/data/multistep-prompts.jsonl)."
        )
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
                try outputOptions.wrote(output)
            }
        }
    }
}
