import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Real llama-server processes for the engine tests: started once, killed at exit. Never skipped:
/// without the engine the tests fail and say how to install it.
actor EngineFixture {
    static let shared = EngineFixture()
    var servers: [String: LlamaServer] = [:]

    /// Ports away from the ones a developer's own servers use (8081/8082).
    static let ports = ["small": 18081, "large": 18082, "qwen-small": 18083, "qwen-large": 18084]

    func url(_ name: String) async throws -> String {
        if let s = servers[name] { return s.url }
        let install: EngineInstall
        do { install = try EngineInstall.locate() } catch {
            throw HandoffError(
                "the engine tests need llama-server and the models: run ./scripts/install-engine (scripts/test does). \(error)",
                exitCode: 1)
        }
        // One core each, as in Scenarios/llamacpp-local.yaml.
        let o = LlamaServer.Options(
            model: try install.model(name), port: Self.ports[name]!, parallel: 4, contextTokens: 8192, threads: 1,
            cpus: name.hasSuffix("small") ? "0" : "1")
        let s = try await LlamaServer.start(
            o, install: install, logPath: NSTemporaryDirectory() + "handoff-test-llama-\(name).log")
        servers[name] = s
        let pid = s.process.processIdentifier
        EngineFixture.registerKill(pid)
        return s.url
    }

    func server(_ name: String) -> LlamaServer? { servers[name] }

    nonisolated static func registerKill(_ pid: Int32) {
        pids.withLock { $0.append(pid) }
        _ = installed
    }
    static let pids = Mutex<[Int32]>([])
    static let installed: Bool = {
        atexit { EngineFixture.pids.withLock { for p in $0 { kill(p, SIGKILL) } } }
        return true
    }()
}

final class Mutex<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func withLock<R>(_ f: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return f(&value)
    }
}

final class EngineTests: XCTestCase {
    /// Records a small trace once (3 prompts, ≤ 32 tokens) for the tests that need one.
    static let recorded = Mutex<String?>(nil)

    func recordedTrace() async throws -> String {
        if let p = Self.recorded.withLock({ $0 }) { return p }
        let small = try await EngineFixture.shared.url("small")
        let path = tempDir() + "/rec.jsonl"
        let r = try runCLI(["record", "--server", small, "--limit", "4", "--max-tokens", "32", "-o", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        Self.recorded.withLock { $0 = path }
        return path
    }

    func testKVCacheBytesEqualPrediction() async throws {
        for name in ["small", "large"] {
            _ = try await EngineFixture.shared.url(name)
            let server = await EngineFixture.shared.server(name)!
            let sc = try ScenarioLoader.load(path: packageRoot + "/Scenarios/llamacpp-local.yaml")
            let tier = sc.tiers[sc.tierIndex(name)!]
            let predicted = Double(tier.kvCapacityTokens) * tier.model.kvBytesPerToken
            // llama.cpp prints the size in MiB with two decimals.
            let reported = try XCTUnwrap(server.kvCacheBytes(), "no llama_kv_cache size line in \(server.logPath)")
            XCTAssertEqual(reported, predicted, accuracy: 0.005 * 1_048_576, name)
        }
    }

    /// The installed Qwen pair's GGUF headers give the shapes Scenarios/qwen-local.yaml types by
    /// hand (that file must load without the engine installed, so it keeps them).
    func testGGUFHeadersMatchTheQwenScenario() throws {
        let install = try EngineInstall.locate()
        let sc = try ScenarioLoader.load(path: packageRoot + "/Scenarios/qwen-local.yaml")
        for (tier, name) in [("small", "qwen-small"), ("large", "qwen-large")] {
            let path = try install.model(name)
            let g = try GGUFHeader.read(path: path).modelSpec(path: path)
            let m = sc.tiers[try XCTUnwrap(sc.tierIndex(tier))].model
            XCTAssertEqual(
                [g.layers, g.attentionHeads, g.kvHeads, g.headDim, g.hidden],
                [m.layers, m.attentionHeads, m.kvHeads, m.headDim, m.hidden], name)
            // 0.494032768 and 1.543714304 billion against 0.494 and 1.544 typed.
            XCTAssertEqual(g.paramsB, m.paramsB, accuracy: 0.001 * m.paramsB, name)
            // The typed weight bytes came from the file size, header (tokenizer) included: 1.2% and 0.6% more.
            XCTAssertEqual(g.weightMemory, m.weightMemory, accuracy: 0.02 * m.weightMemory, name)
        }
    }

    /// The Hugging Face configs of the four installed models count exactly the parameters their
    /// GGUF files hold (tensor elements less the input embedding when the output is its own matrix).
    func testHFConfigsCountTheGGUFTensors() throws {
        let install = try EngineInstall.locate()
        for (name, config, count) in [
            ("qwen-small", "qwen2.5-coder-0.5b-instruct.json", 494_032_768),
            ("qwen-large", "qwen2.5-coder-1.5b-instruct.json", 1_543_714_304),
            ("gemma", "gemma-3-270m.json", 268_098_176), ("small", "smollm2-135m.json", 134_515_008)
        ] {
            let path = try install.model(name)
            let g = try GGUFHeader.read(path: path)
            let h = try HFConfig.read(path: packageRoot + "/Scenarios/models/" + config)
            XCTAssertEqual(g.computeParameters, count, name)
            XCTAssertEqual(h.activeParameters, count, config)
            XCTAssertEqual(h.parameters, count, "\(config): tied embeddings are stored once")
            let m = try g.modelSpec(path: path)
            XCTAssertEqual(
                [h.layers, h.heads, h.kvHeads, h.headDim, h.hidden],
                [m.layers, m.attentionHeads, m.kvHeads, m.headDim, m.hidden], name)
        }
    }

    func testRecordWritesAValidTrace() async throws {
        let path = try await recordedTrace()
        let t = try TraceReader.read(path: path)
        XCTAssertEqual(t.count, 4)
        for r in 0..<t.count {
            let q = t.requests[r]
            XCTAssertGreaterThan(q.promptTokens, 20, "the chat template plus the question")
            XCTAssertGreaterThan(t.outputTokens(r), 0)
            XCTAssertLessThanOrEqual(t.outputTokens(r), 32)
            XCTAssertNotNil(q.smallCorrect, "answers are known, so correctness is recorded")
            guard case .numbers(let ms)? = q.measured?["token_ms"] else { return XCTFail("no measured.token_ms") }
            XCTAssertEqual(ms.count, t.outputTokens(r), "one arrival time per token")
            XCTAssertEqual(ms, ms.sorted(), "arrival times increase")
            for i in t.tokenRange(r) { XCTAssert(t.difficulty[i] >= 0 && t.difficulty[i] <= 1) }
            XCTAssertNotNil(q.measured?["timings"]?["predicted_ms"], "the server's own timings are kept")
        }
        // Greedy decoding: some token is uncertain, most are not (a real model, not a constant).
        let d = (0..<t.difficulty.count).map { t.difficulty[$0] }
        XCTAssertGreaterThan(d.max()!, 0.3)
        XCTAssertLessThan(d.min()!, 0.05)
    }

    /// Calibration files measured here, once per server (a quick probe design): the shipped ones
    /// describe the machine they were made on, and CI may run on another.
    static let calibrations = Mutex<[String: String]>([:])

    /// `--set` arguments pointing both tiers at latency laws calibrated on this machine.
    func machineCalibrations() async throws -> [String] {
        [
            "--set", "tiers.small.latency.calibration=\(try await calibration("small"))",
            "--set", "tiers.large.latency.calibration=\(try await calibration("large"))"
        ]
    }

    func calibration(_ name: String) async throws -> String {
        if let f = Self.calibrations.withLock({ $0[name] }) { return f }
        let url = try await EngineFixture.shared.url(name)
        let file = tempDir() + "/cal-\(name).yaml"
        // Median of 5 repeats per probe, 32 decoded tokens each: with 1 repeat, a noisy probe on this
        // shared machine moved the fitted decode laws enough to put small-only predictions 70% above
        // the measurement (seen twice on 2026-11-21), and with 3 repeats of 16 tokens once more on
        // 2026-12-01 (a batch-2 step fitted at 60 ms against 38 in three other calibrations that day,
        // small-only E2EL p95 +62%), each time with the simulator's output unchanged.
        let r = try runCLI(
            [
                "calibrate", "--server", url, "-o", file, "--prefill", name == "small" ? "24,100,360" : "24,100,200",
                "--batches", "1,2", "--contexts", "32,256", "--decode-tokens", "32", "--repeats", "5",
                "--top-logprobs", name == "small" ? "5" : "0"
            ] + (name == "large" ? ["--small-prefill", "1,2,3,4"] : []))
        XCTAssertEqual(r.status, 0, r.stderr)
        Self.calibrations.withLock { $0[name] = file }
        return file
    }

    func validate(
        _ policy: String, sample: Int, concurrency: Int, out: String, calibrated: Bool = false
    ) async throws -> JSONValue {
        let small = try await EngineFixture.shared.url("small")
        let large = try await EngineFixture.shared.url("large")
        let trace = try await recordedTrace()
        var extra: [String] = []
        if calibrated {
            extra = [
                "--set", "tiers.small.latency.calibration=\(try await calibration("small"))",
                "--set", "tiers.large.latency.calibration=\(try await calibration("large"))"
            ]
        }
        let r = try runCLI(
            [
                "validate", "Scenarios/llamacpp-local.yaml", "--set", "trace.file=\(trace)", "--set",
                "policy.name=\(policy)", "--lengths", "recorded",
                "--set", "policy.offload_threshold=0.5", "--small", small, "--large", large,
                "--sample", String(sample), "--concurrency", String(concurrency), "--out", out, "--format", "json"
            ] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONParser.parse(r.stdout)
    }

    func checkErrors(_ v: JSONValue, bound: Double, _ label: String) {
        for key in ["e2el_ms.p50", "e2el_ms.p95", "ttft_ms.p50", "throughput_rps"] {
            guard let e = number(v["metrics"]?[key], "error_pct"), let m = number(v["metrics"]?[key], "measured"),
                let p = number(v["metrics"]?[key], "predicted")
            else {
                XCTFail("\(label): \(key) missing")
                continue
            }
            XCTAssert(m > 0 && p > 0, "\(label) \(key): measured \(m), predicted \(p)")
            XCTAssertLessThan(abs(e), bound, "\(label) \(key): measured \(m), predicted \(p)")
        }
    }

    func testValidateSmallOnlyAndOffload() async throws {
        // record → calibrate → validate, all on this machine. The bound catches gross errors only:
        // on 2026-12-01 this shared machine's speed moved by up to 2x between a calibration and a
        // validation minutes later (small prefill fitted at 5.4 and 7.3 ms/token in two runs; small-only
        // E2EL p50 off by -8% in one full run and +98% in the next, with the simulator's predictions
        // for a fixed calibration byte-identical to the previous commit's).
        let smallOut = tempDir()
        let small = try await validate("small-only", sample: 4, concurrency: 2, out: smallOut, calibrated: true)
        checkErrors(small, bound: 150, "small-only")
        try await compareMeasuredRun(smallOut, small)
        let off = try await validate("splitreason", sample: 4, concurrency: 2, out: tempDir(), calibrated: true)
        checkErrors(off, bound: 150, "splitreason")
        let frac = try XCTUnwrap(number(off["metrics"]?["offload.token_fraction"], "measured"))
        XCTAssertGreaterThan(frac, 0, "threshold 0.5 offloads something on these prompts")
        // The replay reproduces the realised segmentation exactly.
        XCTAssertEqual(
            frac, try XCTUnwrap(number(off["metrics"]?["offload.token_fraction"], "predicted")), accuracy: 1e-9)
    }

    /// `validate` wrote the run as `vllm bench serve --save-result --save-detailed` would
    /// (vllm-bench.json); `handoff compare` rebuilds its workload (the four requests' lengths, a
    /// closed loop at concurrency 2) and predicts what validate's own replay of those requests
    /// predicted, and its measured column is the run's.
    func compareMeasuredRun(_ dir: String, _ validation: JSONValue) async throws {
        let bench = try JSONParser.parse(try String(contentsOfFile: dir + "/vllm-bench.json", encoding: .utf8))
        XCTAssertEqual(number(bench, "completed"), 4)
        XCTAssertEqual(number(bench, "max_concurrency"), 2)
        XCTAssertEqual(bench["request_rate"], .string("inf"))
        let samples = try String(contentsOfFile: dir + "/samples.jsonl", encoding: .utf8).split(separator: "\n")
            .dropFirst()
            .compactMap { MeasuredRequest(try JSONParser.parse(String($0))) }
        XCTAssertEqual(number(bench, "total_output_tokens"), Double(samples.reduce(0) { $0 + $1.outputTokens }))
        let e2els = samples.map { $0.e2elS * 1000 }.sorted()
        XCTAssertEqual(try XCTUnwrap(number(bench, "median_e2el_ms")), (e2els[1] + e2els[2]) / 2, accuracy: 1e-6)
        let r = try runCLI([
            "compare", dir + "/vllm-bench.json", "Scenarios/llamacpp-local.yaml", "--set", "policy.name=small-only",
            "--set", "tiers.small.latency.calibration=\(try await calibration("small"))", "--format", "json"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let c = try JSONParser.parse(r.stdout)
        XCTAssertEqual(number(c, "requests"), 4)
        XCTAssertEqual(c["traffic"]?["arrival"], .string("closed_loop"))
        XCTAssertEqual(number(c["traffic"], "concurrency"), 2)
        guard case .array(let rows)? = c["rows"] else { return XCTFail("no rows: \(r.stdout)") }
        func row(_ k: String) -> JSONValue? { rows.first { $0["metric"] == .string(k) } }
        XCTAssertEqual(
            try XCTUnwrap(number(row("median_e2el_ms"), "measured")), try XCTUnwrap(number(bench, "median_e2el_ms")))
        // The same requests, the same laws: compare's prediction is validate's replay (the replay adds
        // the run's median client gap as think time, compare none).
        let replay = try XCTUnwrap(number(validation["metrics"]?["e2el_ms.p50"], "predicted"))
        let predicted = try XCTUnwrap(number(row("median_e2el_ms"), "predicted"))
        print(
            "compare: measured E2EL p50 \(number(row("median_e2el_ms"), "measured")!) ms, predicted \(predicted), validate's replay \(replay)"
        )
        XCTAssertEqual(
            predicted, replay, accuracy: 0.05 * replay, "compare \(predicted) ms, validate's replay \(replay) ms")
        XCTAssertLessThan(abs(try XCTUnwrap(number(row("median_e2el_ms"), "error_pct"))), 150)
    }

    /// The closed loop on the real pair: record 6 prompts on Qwen2.5-Coder-0.5B (labelled on the 1.5B),
    /// run splitreason live at three thresholds, fit on the outer two and check the middle one. The
    /// bounds catch gross errors of the trajectory model: the naive reading of the trace (the share
    /// of its tokens above τ) misses the live offload share by more than the bound. A single fitting
    /// threshold does not do (2026-12-02: fitted at 0.4 alone, κ predicted 0.089 at 0.6 against 0.222).
    ///
    /// Everything runs at concurrency 1. llama.cpp's batched kernels make a greedy stream depend on
    /// its batch partners (the logits of a near-tie move with the batch), so at concurrency 3 the
    /// same commands gave a held-out live share of 0.151, 0.207 and 0.233 in three runs on one day,
    /// and the comparison with the naive reading flipped in one of them (CI, 2026-12-02: model off
    /// by 0.135, naive by 0.128). At concurrency 1 two runs gave byte-identical streams: live 0.139,
    /// model 0.133, naive 0.026.
    func testClosedLoopOnTheQwenPair() async throws {
        let small = try await EngineFixture.shared.url("qwen-small")
        let large = try await EngineFixture.shared.url("qwen-large")
        let dir = tempDir()
        let rec = try runCLI([
            "record", "--prompts", "Scenarios/data/multistep-prompts.jsonl", "--server", small, "--label-server", large,
            "--limit", "6", "--max-tokens", "96", "--concurrency", "1", "-o", dir + "/t.jsonl"
        ])
        XCTAssertEqual(rec.status, 0, rec.stderr)
        let t = try TraceReader.read(path: dir + "/t.jsonl")
        XCTAssertEqual(t.count, 6)
        for q in t.requests {
            XCTAssertNotNil(q.largeCorrect, "labelled on the large model")
            XCTAssertNotNil(q.largeOutputTokens)
            XCTAssertLessThanOrEqual(q.largeOutputTokens ?? 0, 96)
        }
        XCTAssertEqual(
            t.requests.map(\.heldOut), [false, false, false, true, false, false], "every fourth prompt is held out")
        let r = try runCLI([
            "closed-loop", "Scenarios/qwen-local.yaml", "--set", "trace.file=\(dir)/t.jsonl",
            "--set", "engine.small.url=\(small)", "--set", "engine.large.url=\(large)",
            "--thresholds", "0.45,0.6,0.75", "--fit", "0.45,0.75", "--concurrency", "1", "--sample", "6",
            "--max-tokens", "96", "--out", dir + "/cl"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        guard
            case .array(let rows) = try JSONParser.parse(
                String(decoding: try FileIO.read(dir + "/cl/closed-loop.json"), as: UTF8.self))
        else {
            return XCTFail("closed-loop.json is not a list")
        }
        XCTAssertEqual(rows.count, 3)
        // Each cell probed both servers just before it ran. The law's figure is the calibration's
        // batch-1 step at 32 + 64/2 context tokens; the measured one is a real decode, which on this
        // machine has stayed within 0.7–1.3× of a calibration made minutes before.
        let cal = try ConfigNode.parse(
            yaml: try String(contentsOfFile: packageRoot + "/Scenarios/calibration/qwen-small.yaml", encoding: .utf8),
            origin: "qwen-small.yaml"
        ).json
        // (YAML lists come back as .array.)
        guard case .number(let fixed)? = cal["latency"]?["fixed_ms"],
            case .number(let perCtx)? = cal["latency"]?["ms_per_context_token"],
            case .array(let batches)? = cal["latency"]?["decode_ms_by_batch"], case .number(let batch1)? = batches.first
        else {
            return XCTFail("qwen-small.yaml has no linear law")
        }
        for row in rows {
            guard case .number(let law)? = row["speed_probe"]?["small"]?["calibrated_ms"],
                case .number(let ms)? = row["speed_probe"]?["small"]?["decode_ms"],
                case .number? = row["speed_probe"]?["large"]?["decode_ms"]
            else { return XCTFail("a cell has no speed_probe: \(row)") }
            XCTAssertEqual(law, fixed + batch1 + perCtx * 64, accuracy: 1e-6)
            XCTAssert(ms > 0.3 * law && ms < 3 * law, "small decodes at \(ms) ms per token against a calibrated \(law)")
        }
        for f in ["closed-loop-model.yaml", "README.md", "index.html"] {
            XCTAssert(FileManager.default.fileExists(atPath: dir + "/cl/" + f), f)
        }
        let held = try XCTUnwrap(rows.first { $0["held_out"] == .bool(true) })
        XCTAssertEqual(number(held, "offload_threshold"), 0.6)
        // closed-loop.json keys are literal dotted names ("offload.token_fraction").
        func get(_ part: String, _ key: String) throws -> Double {
            guard case .number(let x)? = held[part]?[key] else {
                throw HandoffError("closed-loop.json: no \(part) \(key)")
            }
            return x
        }
        // 6 prompts of ≤ 96 tokens, 5 of them fitted (one is held out). At concurrency 1 the model
        // missed by 0.006 (twice, 2026-12-02); at concurrency 3, where streams vary, by 0.05–0.135.
        // The bound allows for another CPU's kernels changing near-ties as batching does.
        let shareBound = 0.12
        let share = try get("measured", "offload.token_fraction")
        XCTAssertGreaterThan(share, 0, "τ = 0.6 offloads on these prompts")
        XCTAssertEqual(
            try get("predicted", "offload.token_fraction"), share, accuracy: shareBound, "held-out offload share")
        let out = try get("measured", "output_tokens_per_request")
        XCTAssertEqual(
            try get("predicted", "output_tokens_per_request"), out, accuracy: 0.3 * out, "held-out output length")
        guard case .numbers(let ci)? = held["predicted"]?["accuracy_ci95"] else { return XCTFail("no accuracy_ci95") }
        // Latency from sampled trajectories: the median over the replications inside their interval.
        guard case .numbers(let pi)? = held["predicted"]?["latency_ms.e2el.p50_pi95"] else {
            return XCTFail("no latency_ms.e2el.p50_pi95")
        }
        let p50 = try get("predicted", "latency_ms.e2el.p50")
        XCTAssert(pi[0] <= p50 && p50 <= pi[1], "median \(p50) outside its interval \(pi)")
        XCTAssertEqual(number(held, "predicted.replications"), 40)
        XCTAssertEqual(number(held, "trajectories.measured.requests"), 6)
        // On 6 prompts with 0/1 labels the interval is discrete and can collapse to a point
        // (2026-12-02: [0, 0] predicted, 1 of 6 measured, where a prompt the small model alone
        // answered right stayed right after offload): one prompt of slack.
        let acc = try get("measured", "accuracy")
        let slack = 1.0 / 6
        XCTAssert(
            acc >= ci[0] - slack - 1e-9 && acc <= ci[1] + slack + 1e-9,
            "measured accuracy \(acc) outside the predicted interval \(ci) ± one prompt")
        // The model beats the naive reading of the trace (its share of tokens above τ): at
        // concurrency 1, off by 0.006 against 0.113.
        let naive = ClosedLoopModel.crossingRate(trace: t, threshold: 0.6)
        XCTAssertLessThan(
            abs(try get("predicted", "offload.token_fraction") - share), abs(naive - share),
            "the trace's share of tokens above τ (\(naive)) should miss the live share \(share) by more than the model")
    }

    /// SPECS for real on the Qwen pair, one small cell (2 prompts, width 2): every journaled step obeys
    /// the rule with the scores the judge returned (accept iff the best draft score ≥ τ; after a
    /// rejection the large model writes the step; drafting resumes iff its best score > τ), the
    /// emitted tokens respect the caps, the grades are the answers', and a rerun asks nothing and
    /// writes the same report.
    func testSpecsLoopOnTheQwenPair() async throws {
        let small = try await EngineFixture.shared.url("qwen-small")
        let large = try await EngineFixture.shared.url("qwen-large")
        let out = tempDir() + "/specs"
        let args = [
            "specs-loop", "Scenarios/qwen-specs.yaml", "--set", "engine.small.url=\(small)", "--set",
            "engine.large.url=\(large)", "--widths", "2", "--fit", "2", "--thresholds", "0.8", "--baselines", "none", "--sample", "2",
            "--step-tokens", "24", "--max-tokens", "48", "--out", out, "--force"
        ]
        let r = try runCLI(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let journal = out + "/runs/c1-specs-w2-t0.8/samples.jsonl"
        let lines = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, "a header and two requests")
        let trace = try TraceReader.read(path: packageRoot + "/Scenarios/data/qwen-multistep.jsonl")
        var draftSteps = 0
        var accepted = 0
        for l in lines.dropFirst() {
            let s = try XCTUnwrap(SpecsSample(try JSONParser.parse(String(l))))
            XCTAssertNotNil(s.steps.first?.draft, "a request starts drafting")
            var drafting = true
            var produced = 0
            for st in s.steps {
                XCTAssertEqual(st.draft != nil, drafting)
                if let d = st.draft {
                    draftSteps += 1
                    XCTAssertEqual(d.candidates.count, 2)
                    XCTAssertEqual(st.accepted, d.bestScore >= 0.8)
                    if st.accepted { accepted += 1 }
                }
                if let t = st.target {
                    XCTAssertEqual(t.candidates.count, 2)
                    drafting = t.bestScore > 0.8
                }
                for c in (st.draft?.candidates ?? []) + (st.target?.candidates ?? []) {
                    XCTAssert((0...1).contains(try XCTUnwrap(c.score)))
                    XCTAssertLessThanOrEqual(c.tokens, min(24, 48 - produced))
                }
                produced += st.emitted.tokens
            }
            XCTAssertEqual(s.outputTokens, produced)
            XCTAssertLessThanOrEqual(produced, 48)
            XCTAssertLessThanOrEqual(s.ttftS, s.e2elS)
            let q = trace.requests[s.index]
            XCTAssertEqual(s.correct, PromptSet.isCorrect(output: s.text, reference: q.answer!))
        }
        let report = try String(contentsOfFile: out + "/specs-loop.json", encoding: .utf8)
        let v = try JSONParser.parse(report)
        XCTAssertEqual(v["scorer"]?["name"], .string("large-judge"))
        guard case .array(let cells)? = v["cells"] else { return XCTFail("no cells") }
        XCTAssertEqual(number(cells.first, "measured.acceptance_rate"), Double(accepted) / Double(draftSteps))
        let speed = try String(contentsOfFile: out + "/speed.jsonl", encoding: .utf8)
        let again = try runCLI(args)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n").count, 3)
        XCTAssertEqual(try String(contentsOfFile: out + "/speed.jsonl", encoding: .utf8), speed, "nothing ran: no probe")
        XCTAssertEqual(try String(contentsOfFile: out + "/specs-loop.json", encoding: .utf8), report)
    }

    func testValidateResumesAfterAnInterruption() async throws {
        let out = tempDir()
        _ = try await validate("small-only", sample: 3, concurrency: 1, out: out)
        // Cut the last finished sample in half, as a kill mid-write would.
        let path = out + "/samples.jsonl"
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, "header + 3 samples")
        lines[3] = String(lines[3].prefix(40))
        try (lines.joined(separator: "\n")).write(toFile: path, atomically: true, encoding: .utf8)
        let v = try await validate("small-only", sample: 3, concurrency: 1, out: out)
        XCTAssertEqual(number(v, "requests"), 3)
        let after = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let epochs = after.dropFirst().compactMap { try? JSONParser.parse(String($0)) }.compactMap {
            number($0, "epoch")
        }
        XCTAssertEqual(epochs.sorted(), [0, 0, 1], "two samples kept from the first run, one run again")
    }

    /// SIGKILL the validating process after its first finished sample; the rerun keeps what was
    /// saved and runs only the rest.
    func testValidateResumesAfterSIGKILL() async throws {
        let small = try await EngineFixture.shared.url("small")
        let trace = try await recordedTrace()
        let out = tempDir()
        let args = [
            "validate", "Scenarios/llamacpp-local.yaml", "--set", "trace.file=\(trace)", "--set",
            "policy.name=small-only", "--lengths", "recorded",
            "--small", small, "--sample", "4", "--out", out, "--format", "json"
        ]
        let p = try startCLI(args)
        let path = out + "/samples.jsonl"
        waitForLines(path, 2)
        kill(p.processIdentifier, SIGKILL)
        while p.isRunning { try await Task.sleep(nanoseconds: 20_000_000) }
        let saved = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count - 1
        XCTAssertGreaterThanOrEqual(saved, 1)
        XCTAssertLessThan(saved, 4, "killed before the end")
        let r = try runCLI(args)
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(r.stdout)
        XCTAssertEqual(number(v, "requests"), 4)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst()
        let epochs = lines.compactMap { try? JSONParser.parse(String($0)) }.compactMap { number($0, "epoch") }
        XCTAssertEqual(epochs.count, 4)
        XCTAssertEqual(epochs.filter { $0 == 0 }.count, saved, "the saved samples are kept, not rerun")
    }

    func testUnreachableServerIsAClearError() async throws {
        let trace = try await recordedTrace()
        let out = tempDir()
        let r = try runCLI([
            "validate", "Scenarios/llamacpp-local.yaml", "--set", "trace.file=\(trace)", "--set",
            "policy.name=small-only", "--lengths", "recorded",
            "--small", "http://127.0.0.1:9", "--sample", "2", "--retries", "1", "--out", out
        ])
        XCTAssertEqual(r.status, 1)
        XCTAssert(r.stderr.contains("cannot connect to http://127.0.0.1:9"), r.stderr)
        XCTAssert(r.stderr.contains("rerun the same command to resume"), r.stderr)
    }

    func testHTTPErrorsAreReported() async throws {
        let small = try await EngineFixture.shared.url("small")
        let c = try OpenAIClient(base: small)
        do {
            _ = try await c.postJSON("no-such-endpoint", .object([]))
            XCTFail("expected an HTTP error")
        } catch let e as EngineError {
            guard case .http(_, let status, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(status, 404)
        }
        // A request the server rejects: the body's message reaches the user.
        var bad = CompletionRequest(prompt: "x", maxTokens: 4)
        bad.promptTokenIDs = [999_999_999]
        do {
            _ = try await c.complete(bad)
            XCTFail("expected an error for an out-of-vocabulary token")
        } catch let e as EngineError {
            XCTAssert("\(e)".contains("HTTP 4") || "\(e)".contains("HTTP 5"), "\(e)")
        }
    }

    func testChatAndCompletionsStreamTokensWithLogprobs() async throws {
        let c = try OpenAIClient(base: try await EngineFixture.shared.url("small"))
        for chat in [false, true] {
            var r = CompletionRequest(
                prompt: "Count from one to five.", maxTokens: 12, topLogprobs: 3, ignoreEOS: true, chat: chat)
            r.temperature = 0
            let res = try await c.complete(r)
            XCTAssertEqual(res.tokens.count, 12, "chat \(chat)")
            XCTAssertEqual(res.timings?.predictedTokens, 12)
            XCTAssertEqual(res.completionTokens, 12, "usage")
            for t in res.tokens {
                XCTAssertEqual(t.top.count, 3)
                XCTAssertNotNil(t.difficulty)
            }
            XCTAssertEqual(res.tokens.map(\.at), res.tokens.map(\.at).sorted())
        }
        // Stopping a stream early: the handler sees exactly the tokens up to its stop.
        var r = CompletionRequest(prompt: "Once upon a time", maxTokens: 64, topLogprobs: 1, ignoreEOS: true)
        r.temperature = 0
        let res = try await c.complete(r) { _, n in n < 5 }
        XCTAssert(res.stopped)
        XCTAssertEqual(res.tokens.count, 5)
    }

    /// SPECS steps for real: n = 2 draft candidates of 8 tokens on the small server, prefill scoring
    /// on the large one. Every step's draft and scoring phases are measured. The target's slots do
    /// not share the prompt (step 1 prefills it once per candidate: ≥ 2 × prompt tokens); the
    /// llama.cpp scenario's `prefix_cache: per_slot` models exactly that, so the model's prefill
    /// counts match the servers' and the step error is a few percent either way (the shipped
    /// report: +0.4%; five test runs on this machine: −5.7% to +1.2%). Before per-slot caches the shared
    /// prefix model was 34–38% fast. The prefill counts below pin the mechanism exactly; the latency
    /// bound is only a coarse guard, because the host drifts ±20% within minutes and CI once measured
    /// |error| = 21.7% on 1 prompt × 2 steps (2026-12-07). So: 2 prompts × 3 steps, and |error| < 30%.
    func testValidateSpecsAgainstLlamaServers() async throws {
        _ = try EngineInstall.locate()
        let out = tempDir() + "/specs"
        // Latency laws calibrated on this machine: the shipped ones describe the machine they were made on.
        let r = try runCLI(
            [
                "validate-specs", "--sample", "2", "--steps", "3", "--beam-width", "2", "--step-tokens", "8",
                "--port", "18095", "--out", out
            ] + (try await machineCalibrations()))
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(try String(contentsOfFile: out + "/validation.json", encoding: .utf8))
        guard case .array(let reqs)? = v["requests"], case .array(let steps)? = reqs.first?["steps"] else {
            return XCTFail("no steps")
        }
        XCTAssertEqual(reqs.count, 2)
        XCTAssertEqual(steps.count, 3)
        let prompt = try XCTUnwrap(number(reqs[0], "prompt_tokens"))
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(number(steps[0], "score_prefill_tokens")), 2 * prompt)
        for s in steps {
            XCTAssertGreaterThan(try XCTUnwrap(number(s, "draft_ms")), 0)
            XCTAssertGreaterThan(try XCTUnwrap(number(s, "score_ms")), 0)
        }
        // Step 1 starts from empty caches: the model's prefill counts are the servers' exactly.
        // Later steps reuse what each slot last held, which depends on the candidate kept: within 15%.
        for key in ["draft_prefill_tokens", "score_prefill_tokens"] {
            let measured = try XCTUnwrap(number(steps[0], key))
            XCTAssertEqual(try XCTUnwrap(number(steps[0], "model_" + key)), measured, key)
            let total = try steps.map { try XCTUnwrap(number($0, key)) }.reduce(0, +)
            let model = try steps.map { try XCTUnwrap(number($0, "model_" + key)) }.reduce(0, +)
            XCTAssertEqual(model, total, accuracy: 0.15 * total, key)
        }
        let e = try XCTUnwrap(number(v, "step_ms.error"))
        XCTAssertLessThan(abs(e), 0.3, "per-slot cache model: predicted steps within 30% of the measured ones")
    }

    /// Speculative decoding for real: llama-server with the draft model and forced acceptance.
    /// α = 0.9, k = 2: the realised acceptance estimates (0.9 + 0.81)/2 = 0.855, and the simulator's
    /// prediction of both cells lands within 50% of the measurement (the shipped report shows −9% to −30%).
    func testValidateSpeculativeAgainstLlamaServer() async throws {
        _ = try EngineInstall.locate()
        let out = tempDir() + "/spec"
        let r = try runCLI(
            [
                "validate-speculative", "--sample", "1", "--draft-tokens", "0,2", "--acceptance", "0.9", "--max-tokens",
                "24",
                "--port", "18093", "--out", out
            ] + (try await machineCalibrations()))
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(try String(contentsOfFile: out + "/validation.json", encoding: .utf8))
        guard case .array(let cells)? = v["cells"] else { return XCTFail("no cells") }
        XCTAssertEqual(cells.count, 2)
        let spec = cells[1]
        let acc = try XCTUnwrap(number(spec, "measured.acceptance_realised"))
        XCTAssertGreaterThan(acc, 0.5, "the draft's tokens are accepted at the forced rate")
        for c in cells {
            let e = try XCTUnwrap(number(c, "error.ms_per_token"))
            XCTAssertLessThan(abs(e), 0.5, "\(c)")
        }
    }

    func testCalibrateReproducesItsProbes() async throws {
        let small = try await EngineFixture.shared.url("small")
        let dir = tempDir()
        let file = dir + "/cal.yaml"
        let r = try runCLI([
            "calibrate", "--server", small, "-o", file, "--prefill", "16,128,512", "--batches", "1,2",
            "--contexts", "32,256", "--decode-tokens", "16", "--repeats", "1", "--small-prefill", "1,2,3"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let node = try ConfigNode.parse(yaml: try String(contentsOfFile: file, encoding: .utf8), origin: file)
        guard case .array(let probes)? = node.json["probes"] else { return XCTFail("no probes in \(file)") }
        XCTAssertEqual(probes.count, 3 + 2 * 2 + 3)
        var errors: [Double] = []
        for p in probes where p["kind"] != .string("prefill-small") {
            let m = try XCTUnwrap(number(p, "measured_ms"))
            let f = try XCTUnwrap(number(p, "fitted_ms"))
            errors.append(abs(f - m) / m)
        }
        XCTAssertLessThan(errors.sorted()[errors.count / 2], 0.15, "median probe error \(errors)")
        XCTAssertLessThan(errors.max()!, 0.5, "worst probe error \(errors)")
        // The file is a latency law a scenario can reference.
        let sc = try scenario(
            """
            trace: {synthetic: {requests: 2}}
            models: {small: {params_b: 0.1348, layers: 30, attention_heads: 9, kv_heads: 3, head_dim: 64, hidden: 576}}
            gpus: {cpu: {memory_gib: 8, memory_bandwidth_gb_s: 20, bf16_tflops: 0.05}}
            tiers: {small: {gpu: cpu, latency: {calibration: \(file)}}}
            policy: {name: small-only}
            """)
        guard case .linear(_, let a, _, _, _, let byBatch, let byTokens) = sc.tiers[0].latency else {
            return XCTFail("not a linear law")
        }
        XCTAssertGreaterThan(a, 0)
        XCTAssertEqual(byBatch.count, 2)
        // The small-batch table: measured costs, growing with the batch (1 token < 3 tokens).
        XCTAssertEqual(byTokens.count, 3)
        XCTAssertLessThan(byTokens[0], byTokens[2])
    }

    /// `--timing client` fits the law from the client's clock alone (time to first token, gaps between
    /// streamed tokens), as for a server without llama.cpp's `timings`. The same probes read both
    /// ways (so the host's drift between two runs does not enter): the two laws predict every probe
    /// within 15% of each other. The client's clock also holds the HTTP round trip and the first
    /// token's sampling, about 1 ms here (measured: 1-token prefill 10.7 ms by the server, 11.9 ms
    /// by the client), so the small-prefill table may differ by up to 2 ms instead.
    func testClientTimingCalibrationAgreesWithServerTimings() async throws {
        let c = try OpenAIClient(base: try await EngineFixture.shared.url("small"))
        var d = Calibrator.Design()
        d.prefillLengths = [60, 200, 700]
        d.smallPrefillTokens = [1, 2]
        d.decodeBatches = [1, 2]
        d.decodeContexts = [32, 256]
        d.decodeTokens = 32
        d.repeats = 3
        d.timing = .client
        let probes = try await Calibrator(client: c, design: d).measure()
        XCTAssertEqual(
            probes.map { Optional($0.measuredMs) }, probes.map(\.clientMs),
            "--timing client measures by the client's clock")
        var byServer = probes.compactMap { $0.timed(by: .server) }
        var byClient = probes.compactMap { $0.timed(by: .client) }
        XCTAssertEqual(byServer.count, probes.count, "llama-server reports timings for every probe")
        let server = try Calibrator.fit(&byServer, design: d)
        let client = try Calibrator.fit(&byClient, design: d)
        var report: [String] = []
        for (s, k) in zip(byServer, byClient) {
            let e = (k.fittedMs - s.fittedMs) / s.fittedMs
            report.append("\(s.kind) n=\(s.tokens) B=\(s.batch): server \(s.fittedMs) client \(k.fittedMs) (\(e))")
            if s.kind == "prefill-small" {
                XCTAssertLessThan(abs(k.fittedMs - s.fittedMs), max(0.15 * s.fittedMs, 2), report.last!)
            } else {
                XCTAssertLessThan(abs(e), 0.15, report.last!)
            }
        }
        for (s, k) in zip(server.decodeMsByBatch, client.decodeMsByBatch) {
            XCTAssertEqual(k, s, accuracy: 0.15 * s, "decode_ms_by_batch")
        }
        print(report.joined(separator: "\n"))
    }
}
