import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff validate-speculative`: classic speculative decoding run for real in one llama-server
/// (target `-m`, draft `-md`, `--spec-type draft-simple`), with the acceptance forced per cell by
/// `--spec-synth-rates` (α, α², …, α^k: each draft position accepted with probability α given the
/// previous ones, the i.i.d. model of the `speculative` policy), against the simulator's prediction
/// for the same requests (prompt tokens from the server, `max_tokens` each, one at a time).
/// Cell k = 0 is the target alone (`large-only`). One server start per cell.
public final class SpeculativeValidation: @unchecked Sendable {
    public struct Cell: Sendable, Equatable {
        public var k: Int
        public var alpha: Double
        public init(k: Int, alpha: Double) {
            self.k = k
            self.alpha = alpha
        }
        /// The cell's files in the output folder: the server's log and the requests' trace.
        var logFile: String { "server-k\(k)-a\(JSONWriter.number(alpha)).log" }
        var traceFile: String { "trace-k\(k)-a\(JSONWriter.number(alpha)).jsonl" }
    }

    /// The files a run over `cells` writes in its folder.
    public static func fileNames(_ cells: [Cell]) -> Set<String> {
        Set(["validation.json", "report.md"] + cells.flatMap { [$0.logFile, $0.traceFile] })
    }

    public struct Row: Sendable {
        public var cell: Cell
        public var requests: Int
        /// Measured: mean of predicted_ms / predicted_n (generation only), mean end-to-end ms, the
        /// realised acceptance (accepted / drafted).
        public var measuredMsPerToken: Double
        public var measuredE2ELMs: Double
        public var measuredAcceptance: Double?
        public var predictedMsPerToken: Double
        public var predictedE2ELMs: Double
    }

    public let family: ScenarioFamily
    public let install: EngineInstall
    public let prompts: [Prompt]
    public let maxTokens: Int
    public let port: Int
    public let outDir: String
    public var targetCPU = "1", draftCPU = "0"

    public init(
        family: ScenarioFamily, install: EngineInstall, prompts: [Prompt], maxTokens: Int, port: Int, outDir: String
    ) {
        self.family = family
        self.install = install
        self.prompts = prompts
        self.maxTokens = maxTokens
        self.port = port
        self.outDir = outDir
    }

    func serverOptions(_ c: Cell) throws -> LlamaServer.Options {
        var extra = ["--cpu-range", "\(targetCPU)-\(targetCPU)", "--cpu-strict", "1"]
        if c.k > 0 {
            let rates = (1...c.k).map { JSONWriter.number(pow(c.alpha, Double($0))) }.joined(separator: ",")
            extra += [
                "-md", try install.model("small"), "--spec-type", "draft-simple", "--spec-draft-n-max", String(c.k),
                "--spec-draft-n-min", "0",
                "--spec-synth-rates", rates, "-td", "1", "-tbd", "1",
                "--spec-draft-cpu-range", "\(draftCPU)-\(draftCPU)", "--spec-draft-cpu-strict", "1"
            ]
        }
        return LlamaServer.Options(
            model: try install.model("large"), port: port, parallel: 1, contextTokens: 4096, threads: 1,
            cpus: "\(draftCPU),\(targetCPU)", extra: extra)
    }

    public func run(cells: [Cell], progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> [Row] {
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        var rows: [Row] = []
        for c in cells {
            progress("k=\(c.k) α=\(JSONWriter.number(c.alpha)): starting llama-server")
            let server = try await LlamaServer.start(
                try serverOptions(c), install: install, logPath: outDir + "/" + c.logFile)
            defer { server.stop() }
            let client = try OpenAIClient(base: server.url)
            var msPerToken: [Double] = []
            var e2el: [Double] = []
            var drafted = 0
            var accepted = 0
            var traceLines = ""
            for (n, p) in prompts.enumerated() {
                progress("k=\(c.k) α=\(JSONWriter.number(c.alpha)): request \(n + 1)/\(prompts.count)")
                var req = CompletionRequest(prompt: p.text, maxTokens: maxTokens, ignoreEOS: true)
                req.temperature = 0
                req.cachePrompt = false
                let res = try await client.complete(req)
                guard let t = res.timings, t.predictedTokens > 0 else {
                    throw EngineError.malformed(
                        url: server.url, event: "final", reason: "no timings with generated tokens")
                }
                msPerToken.append(t.predictedMs / Double(t.predictedTokens))
                e2el.append(res.duration * 1000)
                drafted += t.draftTokens ?? 0
                accepted += t.draftAccepted ?? 0
                let zeros = Array(repeating: "0", count: t.predictedTokens).joined(separator: ",")
                traceLines +=
                    #"{"id":"\#(p.id)","prompt_tokens":\#(t.promptTokens + t.cachedTokens),"difficulty":[\#(zeros)]}"#
                    + "\n"
            }
            server.stop()
            let tracePath = outDir + "/" + c.traceFile
            try FileIO.writeAtomically(traceLines, to: tracePath)
            var o = [
                "trace.file=\(URL(fileURLWithPath: tracePath).path)", "traffic.arrival=closed_loop",
                "traffic.concurrency=1"
            ]
            o +=
                c.k == 0
                ? ["policy.name=large-only"]
                : [
                    "policy.name=speculative", "policy.draft_tokens=\(c.k)",
                    "policy.acceptance=\(JSONWriter.number(c.alpha))",
                    "policy.acceptance_from=rate"
                ]
            let sim = try family.run(o)
            let ok = sim.outcome.requests.filter { !$0.failed }
            // Generation time per token as the server counts it: from the first token to the last.
            let predTok = ok.map {
                $0.outputTokens > 1 ? ($0.e2elS - $0.ttftS) * 1000 / Double($0.outputTokens - 1) : 0
            }
            rows.append(
                Row(
                    cell: c, requests: prompts.count, measuredMsPerToken: Statistics.mean(msPerToken),
                    measuredE2ELMs: Statistics.mean(e2el),
                    measuredAcceptance: drafted > 0 ? Double(accepted) / Double(drafted) : nil,
                    predictedMsPerToken: Statistics.mean(predTok),
                    predictedE2ELMs: Statistics.mean(ok.map { $0.e2elS * 1000 })))
        }
        return rows
    }

    public static func json(_ rows: [Row], maxTokens: Int) -> JSONValue {
        .object([
            ("max_tokens", .number(Double(maxTokens))),
            (
                "cells",
                .array(
                    rows.map { r in
                        .object([
                            ("draft_tokens", .number(Double(r.cell.k))), ("acceptance", .number(r.cell.alpha)),
                            ("requests", .number(Double(r.requests))),
                            (
                                "measured",
                                .object([
                                    ("ms_per_token", .number(r.measuredMsPerToken)),
                                    ("e2el_ms", .number(r.measuredE2ELMs)),
                                    ("acceptance_realised", r.measuredAcceptance.map(JSONValue.number) ?? .null)
                                ])
                            ),
                            (
                                "predicted",
                                .object([
                                    ("ms_per_token", .number(r.predictedMsPerToken)),
                                    ("e2el_ms", .number(r.predictedE2ELMs))
                                ])
                            ),
                            (
                                "error",
                                .object([
                                    ("ms_per_token", .number(r.predictedMsPerToken / r.measuredMsPerToken - 1)),
                                    ("e2el_ms", .number(r.predictedE2ELMs / r.measuredE2ELMs - 1))
                                ])
                            )
                        ])
                    })
            )
        ])
    }

    public static func table(_ rows: [Row]) -> String {
        var s =
            "| k | α | realised acceptance | measured ms/token | predicted | error | measured E2EL ms | predicted | error |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in rows {
            s += String(
                format: "| %d | %@ | %@ | %.1f | %.1f | %+.1f%% | %.0f | %.0f | %+.1f%% |\n", r.cell.k,
                r.cell.k == 0 ? "—" : JSONWriter.number(r.cell.alpha),
                r.measuredAcceptance.map { String(format: "%.3f", $0) } ?? "—", r.measuredMsPerToken,
                r.predictedMsPerToken,
                100 * (r.predictedMsPerToken / r.measuredMsPerToken - 1), r.measuredE2ELMs, r.predictedE2ELMs,
                100 * (r.predictedE2ELMs / r.measuredE2ELMs - 1))
        }
        return s
    }
}
