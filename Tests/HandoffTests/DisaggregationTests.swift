import Foundation
import XCTest

@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// A tier split into prefill and decode pools (`tiers.<t>.disaggregated`): requests computed by
/// hand, the bookkeeping under every sequential policy, and what the loader refuses.
final class DisaggregationTests: XCTestCase {
    /// The hand-computable scenario with its large tier split: 1 prefill + 1 decode replica of
    /// the same law (an iteration 2 ms + 0.2 ms per prefill token + 30 ms per decoding sequence),
    /// an 8 Gbit/s link (1 GB/s) with 1 ms latency, and the large model alone serving.
    func splitScenario(_ trace: String, _ overrides: [String] = []) throws -> Scenario {
        let yaml = handComputableScenarioYAML(trace: trace, policy: "name: large-only")
            .replacingOccurrences(
                of: "decode_ms_per_seq: 30}}",
                with:
                    "decode_ms_per_seq: 30}, disaggregated: {prefill_replicas: 1, decode_replicas: 1, kv_link_gbps: 8, kv_link_latency_ms: 1}}"
            )
        return try scenario(yaml, overrides)
    }

    func writeTrace(_ lines: [String]) throws -> String {
        let path = tempDir() + "/trace.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One request, 100-token prompt, 5 tokens, sent to the large tier over the network (5 ms
    /// each way): the prefill replica prefills and emits the first token at 5 + 2 + 0.2 · 100 =
    /// 27 ms (TTFT 32 with the trip back); 100 tokens of KV (DeepSeek-R1-Distill-Qwen-14B: 2 · 48
    /// layers · 8 KV heads · 128 · 2 bytes = 196,608 bytes a token) cross at 1 GB/s in 19.6608 ms
    /// plus 1 ms; the decode replica decodes the 4 other tokens, 32 ms each: E2EL 27 + 20.6608 +
    /// 128 + 5 = 180.6608 ms. Aggregated on one replica it is 27 + 128 + 5 = 160 ms.
    func testOneRequestByHand() throws {
        let path = try writeTrace([#"{"id":"a","prompt_tokens":100,"difficulty":[0,0,0,0,0]}"#])
        let sc = try splitScenario(path)
        XCTAssertEqual(sc.tiers[1].model.kvBytesPerToken, 196_608)
        let r = try Simulation.run(sc, checkingInvariants: true)
        let q = r.outcome.requests[0]
        XCTAssertEqual(q.ttftS * 1000, 32, accuracy: 1e-9)
        XCTAssertEqual(q.e2elS * 1000, 180.6608, accuracy: 1e-9)  // 27 + 19.6608 + 1 + 4 · 32 + 5
        XCTAssertEqual(q.outputTokens, 5)
        let x = try XCTUnwrap(r.outcome.tiers[1].kvTransfers)
        XCTAssertEqual(x.count, 1)
        XCTAssertEqual(x.tokens, 100)
        XCTAssertEqual(x.meanSeconds * 1000, 20.6608, accuracy: 1e-9)
        let pools = try XCTUnwrap(r.outcome.tiers[1].pools)
        XCTAssertEqual(pools[0].busySeconds * 1000, 22, accuracy: 1e-9)  // the prefill replica: one iteration
        XCTAssertEqual(pools[1].busySeconds * 1000, 128, accuracy: 1e-9)  // the decode replica: four
        XCTAssertEqual(pools[0].peakKVTokens, 100)
        XCTAssertEqual(pools[1].peakKVTokens, 104)  // the context and the 4 decoded tokens' KV
        let aggregated = try scenario(handComputableScenarioYAML(trace: path, policy: "name: large-only"))
        XCTAssertEqual(try Simulation.run(aggregated).outcome.requests[0].e2elS * 1000, 160, accuracy: 1e-9)
    }

    /// Two requests 1 ns apart on a 1 Gbit/s link: a prefills alone (22 ms, ends at 27) and its
    /// 100 tokens take the link for 157.2864 ms (arriving at 185.2864 with the 1 ms latency); b
    /// prefills next (2 + 40 = 42 ms, ends at 69, TTFT 74) and its 200 tokens wait for the link
    /// until 184.2864, then take 314.5728 ms (arriving at 499.8592). Each then decodes its one
    /// other token alone (32 ms) and returns (5 ms).
    func testTransfersQueueOnTheLink() throws {
        let path = try writeTrace([
            #"{"id":"a","prompt_tokens":100,"difficulty":[0,0]}"#,
            #"{"id":"b","prompt_tokens":200,"difficulty":[0,0]}"#,
        ])
        let sc = try splitScenario(path, ["traffic.rate_rps=1e9", "tiers.large.disaggregated.kv_link_gbps=1"])
        let r = try Simulation.run(sc, checkingInvariants: true)
        let o = r.outcome.requests.sorted { $0.traceIndex < $1.traceIndex }
        let ns = 1e-6  // b's arrival, in ms
        XCTAssertEqual(o[0].ttftS * 1000, 32, accuracy: 1e-6)
        XCTAssertEqual(o[1].ttftS * 1000, 74 - ns, accuracy: 1e-6)
        XCTAssertEqual(o[0].e2elS * 1000, 222.2864, accuracy: 1e-6)  // 27 + 157.2864 + 1 + 32 + 5
        XCTAssertEqual(o[1].e2elS * 1000, 536.8592 - ns, accuracy: 1e-6)  // 27 + 157.2864 + 314.5728 + 1 + 32 + 5
        let x = try XCTUnwrap(r.outcome.tiers[1].kvTransfers)
        XCTAssertEqual(x.tokens, 300)
        XCTAssertEqual(x.maxSeconds * 1000, 430.8592, accuracy: 1e-6)  // 499.8592 − 69
        XCTAssertEqual(x.linkBusySeconds * 1000, 471.8592, accuracy: 1e-6)
    }

    /// Every sequential policy with its large tier split, under memory pressure: the bookkeeping
    /// holds after every event, every request's tokens are served, nothing stalls or overflows,
    /// and the KV goes over the link whenever the large tier decodes past a first token.
    func testInvariantsUnderEverySequentialPolicy() throws {
        var transfers = 0
        var pressure = 0
        for (p, policy) in ConservationTests.everyPolicy.enumerated() where !policy.contains("pipelined") {
            let sc = try ConservationTests.randomScenario(
                500 + p, policy: policy,
                [
                    "trace.synthetic.requests=24", "trace.synthetic.output_tokens.median=400",
                    "trace.synthetic.output_tokens.max=2000", "tiers.small.kv_capacity_tokens=4000",
                    "tiers.large.kv_capacity_tokens=3000", "tiers.large.replicas=",
                    "tiers.large.disaggregated.prefill_replicas=1", "tiers.large.disaggregated.decode_replicas=2",
                    "tiers.large.disaggregated.kv_link_gbps=100",
                ])
            let trace = try Simulation.loadTrace(sc)
            let r = try Simulation.run(sc, trace: trace, checkingInvariants: true)
            XCTAssertEqual(r.outcome.stalledRequests, 0, policy)
            XCTAssertFalse(r.outcome.kvOverflow, policy)
            XCTAssertFalse(r.outcome.clockWentBackwards, policy)
            for q in r.outcome.requests where !q.failed {
                XCTAssertEqual(q.outputTokens, trace.outputTokens(q.traceIndex), policy)
            }
            let split = try XCTUnwrap(r.typedSummary.disaggregated?["large"], policy)
            XCTAssertEqual(split.prefill.replicas + split.decode.replicas, 3, policy)
            transfers += split.kvTransfer.transfers
            pressure += r.outcome.tiers.reduce(0) { $0 + $1.preemptions + $1.evictions }
        }
        XCTAssertGreaterThan(transfers, 0, "some KV went over the link")
        XCTAssertGreaterThan(pressure, 0, "memory pressure was exercised")
    }
}

/// DistServe's own queueing analysis of a prefill instance (Zhong et al., OSDI 2024, §3.1, Eq. 1):
/// Poisson arrivals at rate R, one prompt at a time, every prompt taking D, is an M/D/1 queue,
/// so the mean TTFT is D + R·D² / (2(1 − R·D)) (Pollaczek–Khinchine). A split tier's prefill pool
/// of one replica that fits one prompt per iteration is that queue; its decode pool does not
/// touch it.
final class DisaggregationQueueingTests: XCTestCase {
    func testPrefillPoolIsDistServesMD1Queue() throws {
        // D = 1 ms + 0.09 ms × 100 tokens = 10 ms.
        let d = 0.010
        for rate in [30.0, 60.0] {
            let sc = try scenario(
                """
                seed: 7
                trace:
                  synthetic:
                    requests: 40000
                    prompt_tokens: {median: 100, sigma: 0.5, min: 100, max: 100}
                    output_tokens: {median: 2, sigma: 0.5, min: 2, max: 2}
                traffic: {arrival: poisson, rate_rps: \(rate)}
                models:
                  m: {name: DeepSeek-R1-Distill-Qwen-1.5B}
                tiers:
                  t:
                    model: m
                    gpu: A100-SXM-80GB
                    latency: {kind: linear, fixed_ms: 1, prefill_ms_per_token: 0.09, decode_ms_per_seq: 1}
                    disaggregated:
                      prefill_replicas: 1
                      decode_replicas: 1
                      prefill: {max_num_seqs: 1, max_num_batched_tokens: 100}
                      kv_link_gbps: 1000
                policy: {name: single}
                """)
            let o = try Simulation.run(sc).outcome
            let ttft = o.requests.reduce(0.0) { $0 + $1.ttftS } / Double(o.requests.count)
            let rho = rate * d
            let expected = d + rate * d * d / (2 * (1 - rho))
            XCTAssertEqual(ttft, expected, accuracy: 0.03 * expected, "R = \(rate)/s, ρ = \(rho)")
        }
    }
}

/// What a split tier refuses, each with the field to fix.
final class DisaggregationInputTests: XCTestCase {
    func shipped(_ edit: (String) -> String, _ overrides: [String] = []) throws -> Scenario {
        let text = try String(contentsOfFile: packageRoot + "/Scenarios/disaggregated-opt13b.yaml", encoding: .utf8)
        return try scenario(edit(text), overrides)
    }

    func assertRefused(_ build: () throws -> Scenario, mentions: [String], file: StaticString = #file, line: UInt = #line) {
        XCTAssertThrowsError(try Simulation.run(try build()), file: file, line: line) { e in
            for m in mentions { XCTAssert("\(e)".contains(m), "\(e) lacks '\(m)'", file: file, line: line) }
        }
    }

    func testRefusals() throws {
        // A misspelt required field is named with its likely intent.
        assertRefused(
            { try self.shipped { $0.replacingOccurrences(of: "prefill_replicas: 2", with: "prefil_replicas: 2") } },
            mentions: ["disaggregated.prefill_replicas", "missing required field", "found 'prefil_replicas'"])
        // replicas beside the pools.
        assertRefused(
            { try self.shipped({ $0 }, ["tiers.opt.replicas=3"]) },
            mentions: ["tiers.opt.disaggregated", "not tiers.opt.replicas"])
        // Another GPU for a pool under a law that ignores it.
        assertRefused(
            {
                try self.shipped(
                    { $0 },
                    [
                        "tiers.opt.latency={kind: linear, prefill_ms_per_token: 0.1, decode_ms_per_seq: 10}",
                        "tiers.opt.disaggregated.decode.gpu=H100-SXM-80GB",
                    ])
            }, mentions: ["disaggregated.decode.gpu", "roofline"])
        // A tensor-parallel pool on a GPU without interconnect bandwidth.
        assertRefused(
            {
                try self.shipped(
                    { $0 },
                    [
                        "gpus={slow: {memory_gib: 80, memory_bandwidth_gb_s: 2000, bf16_tflops: 300}}",
                        "tiers.opt.gpu=slow", "tiers.opt.disaggregated.prefill.tensor_parallel=2",
                    ])
            }, mentions: ["prefill", "interconnect_gb_s"])
        // Shared-queue routing.
        assertRefused({ try self.shipped({ $0 }, ["tiers.opt.routing=shared_queue"]) }, mentions: ["least_loaded"])
        // A pipelined policy on a split tier is refused before the run.
        assertRefused(
            {
                try scenario(
                    handComputableScenarioYAML(trace: packageRoot + "/Scenarios/data/qwen-multistep.jsonl", policy: "name: splitreason, mode: pipelined")
                        .replacingOccurrences(
                            of: "decode_ms_per_seq: 30}}",
                            with: "decode_ms_per_seq: 30}, disaggregated: {prefill_replicas: 1, decode_replicas: 1, kv_link_gbps: 8}}"))
            }, mentions: ["pipelined", "disaggregated"])
        // Unsetting the split gives the aggregated tier back.
        let aggregated = try shipped({ $0 }, ["tiers.opt.disaggregated=", "tiers.opt.replicas=3"])
        XCTAssertNil(aggregated.tiers[0].disaggregation)
        XCTAssertEqual(aggregated.tiers[0].replicas, 3)
    }
}
