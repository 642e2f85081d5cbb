import Foundation
import XCTest
@testable import Handoff

/// `simulate --format vllm-bench`: vLLM's `--save-result` keys and types, and numbers that agree
/// with the summary and with hand computation.
final class VLLMBenchTests: XCTestCase {
    func result() throws -> SimulationResult {
        try Simulation.run(try ScenarioLoader.load(path: nil, overrides: ["trace.synthetic.requests=60", "traffic.max_in_flight=20", "traffic.rate_rps=2"]))
    }

    func testKeysTypesAndAgreementWithTheSummary() throws {
        let r = try result()
        let v = VLLMBenchResult.json(r, detailed: true)
        var keys = ["duration", "completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput", "output_throughput",
                    "total_token_throughput", "num_prompts", "burstiness"]
        for m in ["ttft", "tpot", "itl", "e2el"] { for s in ["mean", "median", "std", "p50", "p90", "p99"] { keys.append("\(s)_\(m)_ms") } }
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
        let itl = multi.reduce(0.0) { $0 + $1.e2elS - $1.ttftS } / Double(multi.reduce(0) { $0 + $1.outputTokens - 1 }) * 1000
        XCTAssertEqual(number(v, "mean_itl_ms")!, itl, accuracy: 1e-9)
        // Per request, in arrival order: one entry each; a request of n tokens has n − 1 gaps.
        guard case let .numbers(inputs)? = v["input_lens"], case let .numbers(outputs)? = v["output_lens"],
              case let .numbers(ttfts)? = v["ttfts"], case let .array(itls)? = v["itls"], case let .array(errors)? = v["errors"] else {
            return XCTFail("detailed arrays missing")
        }
        XCTAssertEqual([inputs.count, outputs.count, ttfts.count, itls.count, errors.count], Array(repeating: r.outcome.requests.count, count: 5))
        for (k, item) in itls.enumerated() {
            guard case let .numbers(gaps) = item else { return XCTFail("itls[\(k)] is not a list of numbers") }
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
        XCTAssertEqual(w.quantile(0.5), 1)            // h = 1.5, between two 1s
        XCTAssertEqual(w.quantile(0.9), 3.8, accuracy: 1e-12)  // h = 2.7: 1 + 0.7 · (5 − 1)
        XCTAssertEqual(w.quantile(1), 5)
        XCTAssertEqual(VLLMBenchResult.weighted([]).quantile(0.5), 0)
    }

    func testCLIFormat() throws {
        let r = try runCLI(["simulate", "--set", "trace.synthetic.requests=20", "--format", "vllm-bench", "--save-detailed"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let v = try JSONParser.parse(r.stdout)
        XCTAssertEqual(number(v, "num_prompts"), 20)
        XCTAssertNotNil(v["ttfts"])
    }
}
