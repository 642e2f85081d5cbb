import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `simulate --format vllm-bench`: vLLM's `--save-result` keys and types, and numbers that agree
/// with the summary and with hand computation.
final class VLLMBenchTests: XCTestCase {
    func result() throws -> SimulationResult {
        try Simulation.run(
            try ScenarioLoader.load(
                path: nil, overrides: ["trace.synthetic.requests=60", "traffic.max_in_flight=20", "traffic.rate_rps=2"])
        )
    }

    func testKeysTypesAndAgreementWithTheSummary() throws {
        let r = try result()
        let v = VLLMBenchResult.json(r, detailed: true)
        var keys = [
            "duration", "completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput",
            "output_throughput",
            "total_token_throughput", "num_prompts", "burstiness"
        ]
        for m in ["ttft", "tpot", "itl", "e2el"] {
            for s in ["mean", "median", "std", "p50", "p90", "p99"] { keys.append("\(s)_\(m)_ms") }
        }
        for k in keys { XCTAssertNotNil(number(v, k), k) }
        XCTAssertEqual(v["request_rate"], .number(2))
        XCTAssertEqual(v["max_concurrency"], .number(20))
        XCTAssertEqual(v["model_id"], .string("DeepSeek-R1-Distill-Qwen-1.5B"))
        // The same requests and statistics as the summary (NumPy's and GSL's quantiles agree).
        XCTAssertEqual(number(v, "completed"), number(r.summary, "requests"))
        XCTAssertEqual(number(v, "failed"), number(r.summary, "requests_failed"))
        XCTAssertGreaterThan(number(v, "failed")!, 0, "the workload should reject some arrivals")
        XCTAssertEqual(number(v, "median_ttft_ms")!, number(r.summary, "latency_ms.ttft.p50")!, accuracy: 1e-9)
        XCTAssertEqual(number(v, "p99_e2el_ms")!, number(r.summary, "latency_ms.e2el.p99")!, accuracy: 1e-9)
        XCTAssertEqual(number(v, "mean_tpot_ms")!, number(r.summary, "latency_ms.tpot.mean")!, accuracy: 1e-9)
        XCTAssertEqual(number(v, "duration"), number(r.summary, "duration_s"))
        let ok = r.outcome.requests.filter { !$0.failed }
        XCTAssertEqual(number(v, "total_output_tokens"), Double(ok.reduce(0) { $0 + $1.outputTokens }))
        XCTAssertEqual(number(v, "total_input_tokens"), Double(ok.reduce(0) { $0 + $1.promptTokens }))
        // The mean ITL is every gap's total over the gaps' count.
        let multi = ok.filter { $0.outputTokens > 1 }
        let itl =
            multi.reduce(0.0) { $0 + $1.e2elS - $1.ttftS } / Double(multi.reduce(0) { $0 + $1.outputTokens - 1 }) * 1000
        XCTAssertEqual(number(v, "mean_itl_ms")!, itl, accuracy: 1e-9)
        // Per request, in arrival order: one entry each; a request of n tokens has n − 1 gaps.
        guard case .numbers(let inputs)? = v["input_lens"], case .numbers(let outputs)? = v["output_lens"],
            case .numbers(let ttfts)? = v["ttfts"], case .array(let itls)? = v["itls"],
            case .array(let errors)? = v["errors"]
        else {
            return XCTFail("detailed arrays missing")
        }
        XCTAssertEqual(
            [inputs.count, outputs.count, ttfts.count, itls.count, errors.count],
            Array(repeating: r.outcome.requests.count, count: 5))
        for (k, item) in itls.enumerated() {
            guard case .numbers(let gaps) = item else { return XCTFail("itls[\(k)] is not a list of numbers") }
            XCTAssertEqual(gaps.count, max(0, Int(outputs[k]) - 1))
        }
        XCTAssertEqual(errors.filter { $0 != .string("") }.count, Int(number(v, "failed")!))
        XCTAssertNil(VLLMBenchResult.json(r, detailed: false)["itls"])
    }

    /// Values repeated by weight, against the expanded list [1, 1, 1, 5] computed by hand.
    func testWeightedStatisticsByHand() {
        let w = VLLMBenchResult.weighted([(gap: 5, count: 1), (gap: 1, count: 3)])
        XCTAssertEqual(w.mean, 2)
        XCTAssertEqual(w.std, 3.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(w.quantile(0.5), 1)  // h = 1.5, between two 1s
        XCTAssertEqual(w.quantile(0.9), 3.8, accuracy: 1e-12)  // h = 2.7: 1 + 0.7 · (5 − 1)
        XCTAssertEqual(w.quantile(1), 5)
        XCTAssertEqual(VLLMBenchResult.weighted([]).quantile(0.5), 0)
    }

    func testCLIFormat() throws {
        let r = try runCLI([
            "simulate", "--set", "trace.synthetic.requests=20", "--format", "vllm-bench", "--save-detailed"
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(r.stdout)
        XCTAssertEqual(number(v, "num_prompts"), 20)
        XCTAssertNotNil(v["ttfts"])
    }

    // MARK: handoff compare

    /// A simulation's own result file, compared under the scenario that made it, reproduces it:
    /// the rebuilt workload (lengths from input_lens/output_lens, Poisson or gamma arrivals from
    /// request_rate and burstiness drawn with the scenario's seed, or the closed loop from
    /// max_concurrency) simulates to every figure exactly.
    func testCompareReproducesASimulationsOwnResult() throws {
        let d = tempDir()
        for traffic in [
            ["traffic.arrival=poisson", "traffic.rate_rps=1"],
            ["traffic.arrival=gamma", "traffic.cv=2", "traffic.rate_rps=1"],
            ["traffic={arrival: closed_loop, concurrency: 3}"]
        ] {
            let sets = ["policy.name=small-only", "trace.synthetic.requests=40"] + traffic
            let sim = try runCLI(
                ["simulate", "--format", "vllm-bench", "--save-detailed"] + sets.flatMap { ["--set", $0] })
            XCTAssertEqual(sim.status, 0, sim.stderr)
            try sim.stdout.write(toFile: d + "/r.json", atomically: true, encoding: .utf8)
            let c = try runCLI(["compare", d + "/r.json", "--format", "json"] + sets.flatMap { ["--set", $0] })
            XCTAssertEqual(c.status, 0, c.stderr)
            let v = try JSONParser.parse(c.stdout)
            XCTAssertEqual(number(v, "requests"), 40)
            XCTAssertEqual(v["exact_lengths"], .bool(true))
            guard case .array(let rows)? = v["rows"] else { return XCTFail("no rows") }
            XCTAssertEqual(rows.count, BenchComparison.metrics.count)
            for r in rows {
                XCTAssertEqual(try XCTUnwrap(number(r, "error_pct")), 0, accuracy: 1e-9, "\(traffic) \(r)")
            }
        }
    }

    /// Without --save-detailed's arrays the workload is every request at the mean lengths (said in
    /// `notes`); a finite rate with max_concurrency is noted as simulated uncapped.
    func testCompareWithoutDetailedArraysUsesMeanLengths() throws {
        let r = try result()
        var v = VLLMBenchResult.json(r, detailed: false)
        guard case .object(var pairs) = v else { return XCTFail() }
        pairs = pairs.map { $0.0 == "max_concurrency" ? ($0.0, .number(8)) : $0 }
        v = .object(pairs)
        let w = try BenchComparison.read(path: try write(v))
        XCTAssertFalse(w.exactLengths)
        let completed = Int(number(v, "completed")!)
        XCTAssertEqual(w.inputLens.count, completed)
        XCTAssertEqual(w.outputLens[0], Int((number(v, "total_output_tokens")! / Double(completed)).rounded()))
        let c = try BenchComparison.run(w, scenario: try ScenarioLoader.load(path: nil, overrides: []))
        XCTAssertEqual(c.traffic.arrival, .poisson)
        XCTAssertEqual(c.traffic.rateRps, 2)
        XCTAssertEqual(c.notes.count, 2, "\(c.notes)")
        XCTAssert(c.table.contains("mean lengths"))
    }

    func write(_ v: JSONValue) throws -> String {
        let path = tempDir() + "/r.json"
        try JSONWriter.write(v).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Bad result files: exit 2 naming the file and the field.
    func testCompareRejectsBadResultFiles() throws {
        let good = VLLMBenchResult.json(try result(), detailed: true)
        guard case .object(let pairs) = good else { return XCTFail() }
        func variant(_ key: String, _ value: JSONValue?) -> JSONValue {
            .object(value == nil ? pairs.filter { $0.0 != key } : pairs.map { $0.0 == key ? ($0.0, value!) : $0 })
        }
        let cases: [(JSONValue, String)] = [
            (variant("median_e2el_ms", nil), "median_e2el_ms"),
            (variant("request_rate", .string("fast")), "request_rate"),
            (variant("max_concurrency", .number(0)), "max_concurrency"),
            (variant("output_lens", .numbers([1, 2])), "output_lens"),
            (variant("input_lens", .numbers([-3])), "input_lens")
        ]
        for (v, field) in cases {
            let r = try runCLI(["compare", try write(v)])
            XCTAssertEqual(r.status, 2, "\(field): \(r.stderr)")
            XCTAssert(r.stderr.contains(field) && r.stderr.contains("r.json"), r.stderr)
        }
        let path = tempDir() + "/bad.json"
        try "{\"completed\": ".write(toFile: path, atomically: true, encoding: .utf8)
        let r = try runCLI(["compare", path])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("not JSON"), r.stderr)
    }
}
