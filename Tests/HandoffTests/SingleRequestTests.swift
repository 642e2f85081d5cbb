import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// One request alone: the latency is a hand-computable sum.
///
/// Linear latency: an iteration takes f + a·(prefill tokens) + b·(decoding sequences) ms.
/// small: f=1, a=0.1, b=10; large: f=2, a=0.2, b=30. RTT 10 ms (one way 5 ms), payload free.
/// A phase that prefills p tokens and generates k takes (f + a·p) + (k−1)(f + b): the iteration
/// that finishes the prefill yields the first token.
/// Request: prompt 100 tokens, 20 output tokens, tokens 5…9 hard → segments small 5, large 5, small 10.
final class SingleRequestTests: XCTestCase {
    static let traceLine =
        #"{"id":"a","prompt_tokens":100,"difficulty":[0.1,0.1,0.1,0.1,0.1,0.9,0.9,0.9,0.9,0.9,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]}"#

    func run(
        _ policy: String, mode: String = "sequential", extra: String = "", trace: String = traceLine
    ) throws -> RequestOutcome {
        let r = try runAll(policy, mode: mode, extra: extra, trace: trace)
        XCTAssertEqual(r.outcome.requests.count, 1)
        return r.outcome.requests[0]
    }

    func runAll(
        _ policy: String, mode: String = "sequential", extra: String = "", trace: String = traceLine,
        overrides: [String] = []
    ) throws -> SimulationResult {
        let dir = tempDir()
        let path = dir + "/t.jsonl"
        try (trace + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let sc = try scenario(
            handComputableScenarioYAML(
                trace: path, policy: "name: \(policy), offload_threshold: 0.5, mode: \(mode), chunk_tokens: 4\(extra)"),
            overrides)
        return try Simulation.run(sc)
    }

    /// Admission control: constant arrivals every 100 ms, each request alone takes 220 ms
    /// (small-only), at most 1 in flight: requests 0, 3, 6, 9 are served, the other 6 rejected.
    func testMaxInFlightRejectsArrivals() throws {
        let r = try runAll(
            "small-only", overrides: ["traffic.rate_rps=10", "traffic.requests=10", "traffic.max_in_flight=1"])
        XCTAssertEqual(
            r.outcome.requests.filter(\.rejected).map(\.arrivalS).map { Int(($0 * 10).rounded()) }, [1, 2, 4, 5, 7, 8])
        XCTAssertEqual(r.summary["requests"], .number(4))
        XCTAssertEqual(r.summary["requests_rejected"], .number(6))
        XCTAssertEqual(r.summary["requests_failed"], .number(6))
        for q in r.outcome.requests where !q.failed { XCTAssertEqual(q.e2elS * 1000, 220, accuracy: 1e-9) }
    }

    func testSmallOnly() throws {
        let q = try run("small-only")
        XCTAssertEqual(q.ttftS * 1000, 11, accuracy: 1e-9)  // 1 + 0.1·100
        XCTAssertEqual(q.e2elS * 1000, 11 + 19 * 11, accuracy: 1e-9)  // + 19 decode steps of 1 + 10
        XCTAssertEqual(q.offloadedTokens, 0)
    }

    func testLargeOnly() throws {
        let q = try run("large-only")
        // there 5, prefill 2 + 0.2·100 = 22, first token back 5 → TTFT 32; 19 steps of 32; back 5.
        XCTAssertEqual(q.ttftS * 1000, 5 + 22 + 5, accuracy: 1e-9)
        XCTAssertEqual(q.e2elS * 1000, 5 + 22 + 19 * 32 + 5, accuracy: 1e-9)
        XCTAssertEqual(q.offloadedTokens, 20)
        XCTAssertEqual(q.handoffs, 0)
    }

    func testSplitReasonSequential() throws {
        let q = try run("splitreason", mode: "sequential")
        let small1 = 11.0 + 4 * 11  // prefill 100, 5 tokens
        let large = (2 + 0.2 * 105) + 4 * 32  // prefill the 105 unseen tokens, 5 tokens
        let small2 = (1 + 0.1 * 6) + 9 * 11  // small KV holds 104 of 110: prefill 6, 10 tokens
        XCTAssertEqual(q.ttftS * 1000, 11, accuracy: 1e-9)
        XCTAssertEqual(q.e2elS * 1000, small1 + 5 + large + 5 + small2, accuracy: 1e-9)
        XCTAssertEqual(q.offloadedTokens, 5)
        XCTAssertEqual(q.handoffs, 2)
        XCTAssertEqual(q.outputTokens, 20)
    }

    /// A trigger token (SplitReason's <bigmodel>, or validate's dropped crossing token): one more
    /// small decode step before the handoff, in the context, not in the output.
    func testSplitReasonTriggerToken() throws {
        let q = try run("splitreason", mode: "sequential", extra: ", trigger_tokens: 1")
        let small1 = 11.0 + 5 * 11  // prefill 100, 5 tokens + the silent trigger
        let large = (2 + 0.2 * 106) + 4 * 32  // the 106 unseen tokens include the trigger
        let small2 = (1 + 0.1 * 6) + 9 * 11  // small KV holds 105 of 111
        XCTAssertEqual(q.ttftS * 1000, 11, accuracy: 1e-9)
        XCTAssertEqual(q.e2elS * 1000, small1 + 5 + large + 5 + small2, accuracy: 1e-9)
        XCTAssertEqual(q.outputTokens, 20, "the trigger is not output")
        XCTAssertEqual(q.offloadedTokens, 5)
        XCTAssertEqual(q.handoffs, 2)
    }

    func testSplitReasonPipelined() throws {
        let q = try run("splitreason", mode: "pipelined")
        // Both tiers prefill the prompt at arrival; chunks of 4 stream to the idle tier while the
        // other decodes (and finish long before the handoff), so a handoff prefills only the last
        // partial chunk (1 token): small 55, 5 there, large (2 + 0.2·1) + 4·32, 5 back, small (1 + 0.1·1) + 9·11.
        let expected = 55 + 5 + (2.2 + 128) + 5 + (1.1 + 99)
        XCTAssertEqual(q.e2elS * 1000, expected, accuracy: 1e-9)
        XCTAssertEqual(q.ttftS * 1000, 11, accuracy: 1e-9)
        XCTAssertEqual(q.handoffs, 2)
        XCTAssertEqual(q.offloadedTokens, 5)
    }

    /// The same with a 50-token prompt, so that the small tier's prompt prefill (1 + 0.1·50 = 6)
    /// differs from a decode step (11). With 100 tokens both are 11, which hid a small tier that
    /// never prefilled the prompt in pipelined mode.
    func testPipelinedPromptPrefill() throws {
        let q = try run(
            "splitreason", mode: "pipelined",
            trace: Self.traceLine.replacingOccurrences(of: "\"prompt_tokens\":100", with: "\"prompt_tokens\":50"))
        XCTAssertEqual(q.ttftS * 1000, 6, accuracy: 1e-9)
        let expected: Double = 6 + 44 + 5 + 130.2 + 5 + 100.1  // small 6 + 4·11, large 2.2 + 4·32, small 1.1 + 9·11
        XCTAssertEqual(q.e2elS * 1000, expected, accuracy: 1e-9)
        XCTAssertEqual(q.outputTokens, 20)
    }

    /// A request whose first tokens are hard starts on the large tier; in pipelined mode the small
    /// tier (the frontend, no network) follows along. Before the shadow was chosen by the first
    /// segment's role, the large sequence was told to arrive twice and the second arrival wiped
    /// its decode work: the request never finished.
    func testPipelinedStartingOnTheLargeTier() throws {
        let hardFirst =
            #"{"id":"b","prompt_tokens":100,"difficulty":[0.9,0.9,0.9,0.9,0.9,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1]}"#
        let q = try run("splitreason", mode: "pipelined", trace: hardFirst)
        // 5 there, large prefill 22 → first token, 5 back: TTFT 32. Large 5 tokens end at
        // 5 + 22 + 4·32 = 155; the chunk of 4 reached the small tier long before, so the handoff
        // carries 1 token: 5 there, then small (1 + 0.1·1) + 14·11.
        XCTAssertEqual(q.ttftS * 1000, 32, accuracy: 1e-9)
        let expected: Double = 155 + 5 + 1.1 + 154
        XCTAssertEqual(q.e2elS * 1000, expected, accuracy: 1e-9)
        XCTAssertEqual(q.outputTokens, 20)
        XCTAssertEqual(q.offloadedTokens, 5)
        XCTAssertEqual(q.handoffs, 1)
        XCTAssertFalse(q.failed)
    }

    /// The SplitReason segmentation honours min/max segment lengths.
    func testSegmentation() throws {
        let t = try TraceJSONL.parse(Self.traceLine, file: "t")
        var segs: [Segment] = []
        SplitReasonPolicy(offloadThreshold: 0.5).plan(trace: t, request: 0, into: &segs)
        XCTAssertEqual(segs, [Segment(role: 0, tokens: 5), Segment(role: 1, tokens: 5), Segment(role: 0, tokens: 10)])
        segs = []
        SplitReasonPolicy(offloadThreshold: 0.5, minSegmentTokens: 8).plan(trace: t, request: 0, into: &segs)
        XCTAssertEqual(segs, [Segment(role: 0, tokens: 5), Segment(role: 1, tokens: 8), Segment(role: 0, tokens: 7)])
        segs = []
        SplitReasonPolicy(offloadThreshold: 0.5, maxSegmentTokens: 2).plan(trace: t, request: 0, into: &segs)
        XCTAssertEqual(segs.map(\.tokens).reduce(0, +), 20)
        XCTAssertEqual(segs.filter { $0.role == 1 }.map(\.tokens), [2, 2, 1])
    }
}
