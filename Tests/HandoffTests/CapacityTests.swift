import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `capacity` against Erlang C. Small-only, one request per replica (`max_num_seqs: 1`), no
/// prompt, 10 ms per generated token and geometric output lengths with mean 100 (p = 0.01, so
/// service is exponential-like: CV² = 0.99, mean 1 s). Poisson arrivals at λ = 4/s: an M/M/c
/// queue with offered load a = 4 under shared-queue routing (one FIFO for the tier). TTFT = wait + 10 ms, so the SLO ttft.p90 ≤ 15 ms is P(wait > 5 ms) ≤ 0.1,
/// ≈ Erlang C: C(7, 4) = 0.135 fails, C(8, 4) = 0.059 meets.
/// (Least-loaded routing is not M/M/c: fewer arrivals wait, the unlucky ones longer. Measured at
/// 7 replicas: P(wait > 5 ms) = 0.099 against Erlang C's 0.135, mean wait 99 ms against 45.)
final class CapacityTests: XCTestCase {
    func testCapacityAgreesWithErlangC() throws {
        let dir = tempDir()
        try writeGeometricTrace(to: dir + "/geo.jsonl")
        try """
        seed: 5
        trace: {file: geo.jsonl}
        traffic: {arrival: poisson, rate_rps: 1, requests: 20000}
        models:
          small: {name: DeepSeek-R1-Distill-Qwen-1.5B}
        tiers:
          small: {gpu: A100-SXM-80GB, max_num_seqs: 1, routing: shared_queue, latency: {kind: linear, fixed_ms: 0, prefill_ms_per_token: 0, decode_ms_per_seq: 10}}
        policy: {name: small-only}
        """.write(toFile: dir + "/mmc.yaml", atomically: true, encoding: .utf8)
        let planner = try CapacityPlanner(
            family: try ScenarioFamily(path: dir + "/mmc.yaml", overrides: []), rateRps: 4,
            slos: [try MetricConstraint.parse("latency_ms.ttft.p90<=15")])
        let erlang = (1...20).first { $0 > 4 && ErlangC.probabilityOfWaiting(servers: $0, offeredLoad: 4) <= 0.1 }!
        XCTAssertEqual(erlang, 8)
        let r = try planner.run()
        XCTAssertEqual(r.plan?.replicas, [erlang])
        XCTAssertEqual(r.gpuCount, 8)
        XCTAssertEqual(r.usdPerHour, 8 * (try planner.family.scenario()).tiers[0].cost.usdPerGpuHour, accuracy: 1e-9)
        // Headroom: Erlang C's highest λ with C(8, λ) ≤ 0.1, to sampling noise (20,000 requests).
        let lo = erlangCHeadroom(servers: 8, maxWaitProbability: 0.1)
        let h = try XCTUnwrap(r.headroomRps)
        XCTAssertEqual(h, lo, accuracy: lo * 0.05)
        print(
            "capacity: \(r.plan!.replicas) replicas, headroom \(h) req/s; Erlang C: \(erlang) servers, headroom \(lo)")
    }

    func testRateParsing() throws {
        XCTAssertEqual(try CapacityPlanner.parseRate("20/s"), 20)
        XCTAssertEqual(try CapacityPlanner.parseRate("1200/min"), 20)
        XCTAssertEqual(try CapacityPlanner.parseRate("7200/h"), 2)
        XCTAssertThrowsError(try CapacityPlanner.parseRate("fast"))
        XCTAssertThrowsError(try CapacityPlanner.parseRate("20/day"))
        XCTAssertThrowsError(try CapacityPlanner.parseRate("-1/s"))
    }

    func testBadCapacityInputExits2() throws {
        let cases: [([String], String)] = [
            (["--rate", "2/s", "--slo", "latency_ms.ttft.p99<=soon"], "not a number"),
            (["--rate", "2/s", "--slo", "latency_ms.tft.p99<=2000"], "did you mean 'latency_ms.ttft.p99'"),
            (["--rate", "2/s"], "--slo"),
            (
                ["--rate", "2/s", "--slo", "latency_ms.ttft.p99<=2000", "--gpus", "huge=H100-SXM-80GB"],
                "no GPU tier named 'huge'"
            ),
            (["--rate", "2/s", "--slo", "latency_ms.ttft.p99<=2000", "--gpus", "large=H1000"], "unknown GPU")
        ]
        for (args, needle) in cases {
            let r = try runCLI(["capacity"] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }
}
