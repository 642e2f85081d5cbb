import Foundation
import XCTest

@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// The replica schedulers behind `simulation.scheduler`, each checked by hand on two requests that
/// overlap, and both under the bookkeeping invariants of every policy.
final class SchedulerTests: XCTestCase {
    /// Request a (100-token prompt, 5 tokens) at t = 0 and b (200-token prompt, 3 tokens) at 10 ms
    /// on one small replica of the hand-computable law: an iteration takes 1 ms + 0.1 ms per
    /// prefill token + 10 ms per decoding sequence.
    func runPair(_ scheduler: String) throws -> [RequestOutcome] {
        let dir = tempDir()
        let path = dir + "/pair.jsonl"
        try """
        {"id":"a","prompt_tokens":100,"difficulty":[0,0,0,0,0]}
        {"id":"b","prompt_tokens":200,"difficulty":[0,0,0]}

        """.write(toFile: path, atomically: true, encoding: .utf8)
        let sc = try scenario(
            handComputableScenarioYAML(trace: path, policy: "name: small-only"),
            ["traffic.rate_rps=100", "simulation.scheduler=\(scheduler)"])
        let o = try Simulation.run(sc, checkingInvariants: true).outcome.requests
        XCTAssertEqual(o.count, 2)
        return o.sorted { $0.traceIndex < $1.traceIndex }
    }

    /// vLLM (decodes first, prefill chunked into the same batch): a's prefill 0–11 ms; at 11 ms a's
    /// decode and b's 200-token prefill in one iteration, 1 + 20 + 10 = 31 ms (b's first token at
    /// 42, 32 ms after it arrived); then two decode iterations of both, 21 ms each (b ends at 84);
    /// then a's last token, 11 ms (a ends at 95).
    func testVLLMMixesPrefillIntoTheDecodeBatch() throws {
        let o = try runPair("vllm")
        XCTAssertEqual(o[0].ttftS * 1000, 11, accuracy: 1e-9)
        XCTAssertEqual(o[1].ttftS * 1000, 42 - 10, accuracy: 1e-9)
        XCTAssertEqual(o[1].e2elS * 1000, 84 - 10, accuracy: 1e-9)
        XCTAssertEqual(o[0].e2elS * 1000, 95, accuracy: 1e-9)
    }

    /// Prefill first (vLLM V0 without chunked prefill): at 11 ms b's prefill alone, 1 + 20 = 21 ms
    /// (b's first token at 32, 22 ms after it arrived) while a waits; then two decode iterations of
    /// both, 21 ms each (b ends at 74); then a's two last tokens, 11 ms each (a ends at 96). b's
    /// TTFT is 10 ms shorter and a's stream 1 ms longer: the trade-off, by hand.
    func testPrefillFirstStallsTheDecoders() throws {
        let o = try runPair("prefill_first")
        XCTAssertEqual(o[0].ttftS * 1000, 11, accuracy: 1e-9)
        XCTAssertEqual(o[1].ttftS * 1000, 32 - 10, accuracy: 1e-9)
        XCTAssertEqual(o[1].e2elS * 1000, 74 - 10, accuracy: 1e-9)
        XCTAssertEqual(o[0].e2elS * 1000, 96, accuracy: 1e-9)
    }

    /// One request alone: no other prompt to favour, so both schedulers give the same numbers.
    func testAloneTheSchedulersAgree() throws {
        let dir = tempDir()
        let path = dir + "/one.jsonl"
        try (#"{"id":"a","prompt_tokens":100,"difficulty":[0,0,0,0,0]}"# + "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        var e2el: [Double] = []
        for s in SchedulerKind.allCases {
            let sc = try scenario(
                handComputableScenarioYAML(trace: path, policy: "name: small-only"), ["simulation.scheduler=\(s)"])
            e2el.append(try Simulation.run(sc).outcome.requests[0].e2elS)
        }
        XCTAssertEqual(e2el.count, 2)
        for x in e2el { XCTAssertEqual(x * 1000, 55, accuracy: 1e-9) }  // 11 + 4 · 11
    }

    /// The bookkeeping checks itself after every event under prefill_first too, for every policy,
    /// with memory pressure; every request's tokens are served; the summary says which scheduler.
    func testInvariantsUnderEveryPolicyWithPrefillFirst() throws {
        var pressure = 0
        for (p, policy) in ConservationTests.everyPolicy.enumerated() {
            let sc = try ConservationTests.randomScenario(
                300 + p, policy: policy,
                [
                    "trace.synthetic.requests=24", "trace.synthetic.output_tokens.median=400",
                    "trace.synthetic.output_tokens.max=2000", "tiers.small.kv_capacity_tokens=4000",
                    "tiers.large.kv_capacity_tokens=3000", "simulation.scheduler=prefill_first"
                ])
            let trace = try Simulation.loadTrace(sc)
            let r = try Simulation.run(sc, trace: trace, checkingInvariants: true)
            XCTAssertEqual(r.outcome.stalledRequests, 0, policy)
            XCTAssertFalse(r.outcome.kvOverflow, policy)
            for q in r.outcome.requests where !q.failed {
                XCTAssertEqual(q.outputTokens, trace.outputTokens(q.traceIndex), policy)
            }
            XCTAssertEqual(r.typedSummary.simulation?.scheduler, "prefill_first", policy)
            pressure += r.outcome.tiers.reduce(0) { $0 + $1.preemptions + $1.evictions }
        }
        XCTAssertGreaterThan(pressure, 0, "memory pressure was exercised")
    }

    func testUnknownSchedulerIsRefused() {
        XCTAssertThrowsError(try ScenarioLoader.load(path: nil, overrides: ["simulation.scheduler=orca"])) { e in
            XCTAssert("\(e)".contains("simulation.scheduler"), "\(e)")
            XCTAssert("\(e)".contains("prefill_first"), "\(e)")
        }
    }
}
