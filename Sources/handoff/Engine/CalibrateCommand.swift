import ArgumentParser
import Foundation
import Handoff

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
    @Option(help: "Prefill probe lengths (comma-separated tokens; mix lengths on and off multiples of 16).")
    var prefill: String = "24,60,100,200,360,700,1030"
    @Option(
        help:
            "Small prefill batches probed one by one after a cached prefix (prefill_ms_by_tokens: the cost of verifying draft tokens); must run 1, 2, … without gaps to be used."
    )
    var smallPrefill: String = "1,2,3,4,5,6,7,8,9,10,11,12"
    @Option(help: "Decode probe concurrencies (≤ the server's --parallel).") var batches: String = "1,2,3,4"
    @Option(help: "Decode probe context lengths.") var contexts: String = "32,512"
    @Option(help: "Tokens generated per decode probe.") var decodeTokens: Int = 64
    @Option(
        help:
            "Repeats per probe (the median is fitted; a shared machine's speed wanders by ±20% from one probe to the next)."
    ) var repeats: Int = 5
    @Option(help: "Tokens per prefill iteration (llama.cpp --ubatch-size).") var ubatch: Int = 512
    @Option(
        help:
            "Top-k log-probabilities per token, as the tier is served (a small tier whose difficulties drive offload: 5)."
    ) var topLogprobs: Int = 0
    @Option(
        help:
            "Whose clock to fit: server (llama.cpp's `timings`) or client (time to first token and token gaps; servers without timings)."
    )
    var timing: Calibrator.Timing = .server
    @OptionGroup var serverOptions: ServerOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() async throws {
        try await guardedAsync {
            func ints(_ s: String, _ field: String) throws -> [Int] {
                let xs = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !xs.isEmpty, xs.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                    throw HandoffError.input("expected comma-separated integers ≥ 1, got '\(s)'", field: field)
                }
                return xs.map { $0! }
            }
            try outputOptions.file(output, "--output")
            var d = Calibrator.Design()
            d.prefillLengths = try ints(prefill, "--prefill")
            d.decodeBatches = try ints(batches, "--batches")
            d.smallPrefillTokens = try ints(smallPrefill, "--small-prefill")
            d.decodeContexts = try ints(contexts, "--contexts")
            d.decodeTokens = decodeTokens
            d.repeats = max(1, repeats)
            d.ubatch = ubatch
            d.topLogprobs = topLogprobs
            d.timing = timing
            let client = try serverOptions.client(server)
            let cal = Calibrator(client: client, design: d)
            let progress = Progress("calibrate")
            var probes = try await cal.measure { a, b in progress.update(a, b) }
            let coef = try Calibrator.fit(&probes, design: d)
            var model = "unknown"
            if let (_, props) = try? await client.getJSON("props"), case .string(let m)? = props?["model_path"] {
                model = m
            }
            try FileIO.writeAtomically(
                Calibrator.yaml(server: server, model: model, coefficients: coef, probes: probes, timing: timing),
                to: output)
            try outputOptions.wrote(output)
            var s = "calibrated \(server) (\(model)):\n"
            s += String(
                format: "  fixed_ms               %.4g\n  prefill_ms_per_token   %.4g\n  prefill_attention_ms   %.4g\n",
                coef.fixedMs, coef.prefillMsPerToken, coef.prefillAttentionMs)
            s +=
                "  decode_ms_by_batch     "
                + coef.decodeMsByBatch.map { String(format: "%.3g", $0) }.joined(separator: ", ") + "\n"
            if !coef.prefillMsByTokens.isEmpty {
                s +=
                    "  prefill_ms_by_tokens   "
                    + coef.prefillMsByTokens.map { String(format: "%.3g", $0) }.joined(separator: ", ") + "\n"
            }
            s += String(format: "  ms_per_context_token   %.4g\n", coef.msPerContextToken)
            s += "probe             measured ms   fitted ms   error %\n"
            for p in probes {
                s +=
                    "  \(p.kind) n=\(p.tokens) B=\(p.batch)".padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(
                        format: "%10.2f  %10.2f  %+7.1f\n", p.measuredMs, p.fittedMs,
                        (p.fittedMs - p.measuredMs) / p.measuredMs * 100)
            }
            emit(s + "wrote \(output)\n")
        }
    }
}
