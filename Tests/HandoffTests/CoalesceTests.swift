import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `simulation.coalesce_tokens`: the coarse plan keeps every role's tokens and the exact plan's
/// handoff counts, and moves latency by what the skipped handoffs cost.
final class CoalesceTests: XCTestCase {
    func plan(_ segs: [Segment]) -> PolicyPlan {
        PolicyPlan(segments: segs, first: [0], count: [Int32(segs.count)])
    }

    /// Hand-worked: windows close once they reach 32 tokens, one segment per role in first-seen
    /// order, and neighbours of one role join.
    func testWindowsMergeShortSegmentsAndKeepEachRolesTokens() {
        let exact = plan([
            Segment(role: 0, tokens: 10), Segment(role: 1, tokens: 16), Segment(role: 0, tokens: 1),
            Segment(role: 1, tokens: 17),
            Segment(role: 0, tokens: 2), Segment(role: 1, tokens: 16), Segment(role: 0, tokens: 100)
        ])
        let c = exact.coalesced(minTokens: 32)
        // [10, 16, 1, 17] reaches 44: small 11, large 33. [2, 16, 100] reaches 118: small 102, large 16.
        XCTAssertEqual(
            c.segments,
            [
                Segment(role: 0, tokens: 11), Segment(role: 1, tokens: 33), Segment(role: 0, tokens: 102),
                Segment(role: 1, tokens: 16)
            ])
        XCTAssertEqual(c.first, [0])
        XCTAssertEqual(c.count, [4])
        XCTAssertEqual(c.exactHandoffs, [6])
        XCTAssertEqual(c.exactOffloadSegments, [3])
    }

    /// A segment of another operation than `decode` is kept as it is and closes the window before it.
    func testFlaggedSegmentsAreKept() {
        let exact = plan([
            Segment(role: 0, tokens: 5), .draft(role: 0, tokens: 1), Segment(role: 1, tokens: 16),
            Segment(role: 0, tokens: 3), .verify(role: 1, tokens: 4, rejecting: 0)
        ])
        let c = exact.coalesced(minTokens: 100)
        XCTAssertEqual(
            c.segments,
            [
                Segment(role: 0, tokens: 5), .draft(role: 0, tokens: 1), Segment(role: 1, tokens: 16),
                Segment(role: 0, tokens: 3), .verify(role: 1, tokens: 4, rejecting: 0)
            ])
    }

    /// Every request's segments stay its own, and a window larger than a request takes all of it.
    func testRequestsStaySeparate() {
        let exact = PolicyPlan(
            segments: [
                Segment(role: 0, tokens: 3), Segment(role: 1, tokens: 4), Segment(role: 1, tokens: 7),
                Segment(role: 0, tokens: 2)
            ],
            first: [0, 2], count: [2, 2])
        let c = exact.coalesced(minTokens: 1000)
        XCTAssertEqual(
            c.segments,
            [
                Segment(role: 0, tokens: 3), Segment(role: 1, tokens: 4), Segment(role: 1, tokens: 7),
                Segment(role: 0, tokens: 2)
            ])
        XCTAssertEqual(c.first, [0, 2])
        XCTAssertEqual(c.exactHandoffs, [1, 1])
    }

    /// A handoff storm (splitreason-a6000 at τ = 0.05: ~400 handoffs per request): the coarse run
    /// keeps tokens per tier, offload share, handoffs and accuracy exactly, passes the invariant
    /// checks, needs under half the events, and its E2EL p50 is within 3% of the exact run's
    /// (measured −1.1%; over the 912 configurations of the full-range sweep that reject nothing,
    /// at most 2.2%, docs/model.md).
    func testCoarseStormKeepsTokensAndMovesLatencyLittle() throws {
        let base = [
            "trace.synthetic.requests=80", "trace.synthetic.output_tokens.min=2000",
            "trace.synthetic.output_tokens.max=4000",
            "traffic.max_in_flight=32", "policy.offload_threshold=0.05", "tiers.large.replicas=2"
        ]
        let path = packageRoot + "/Scenarios/splitreason-a6000.yaml"
        let exactSc = try ScenarioLoader.load(path: path, overrides: base)
        let trace = try Simulation.loadTrace(exactSc)
        let exact = try Simulation.run(exactSc, trace: trace)
        let coarse = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: base + ["simulation.coalesce_tokens=64"]), trace: trace,
            checkingInvariants: true)
        XCTAssertEqual(coarse.outcome.stalledRequests, 0)
        XCTAssertFalse(coarse.outcome.kvOverflow)
        XCTAssertFalse(coarse.scenario.simulation.exactRerun)
        XCTAssertEqual(coarse.summary["simulation"]?["exact_rerun"], .bool(false))
        XCTAssertEqual(coarse.outcome.tiers.map(\.generatedTokens), exact.outcome.tiers.map(\.generatedTokens))
        for key in [
            "offload.token_fraction", "offload.handoffs_per_request", "offload.segments_per_request",
            "accuracy.predicted", "requests_failed"
        ] {
            XCTAssertEqual(number(coarse.summary, key), number(exact.summary, key), key)
        }
        XCTAssertGreaterThan(number(exact.summary, "offload.handoffs_per_request")!, 300)
        XCTAssertLessThan(Double(coarse.outcome.events), 0.5 * Double(exact.outcome.events))
        let e = number(exact.summary, "latency_ms.e2el.p50")!
        let c = number(coarse.summary, "latency_ms.e2el.p50")!
        XCTAssertEqual(c / e, 1, accuracy: 0.03)
    }

    /// Past saturation (arrivals rejected) the coarse run is replaced by the exact one: the same
    /// summary, marked.
    func testOverloadedCoarseRunFallsBackToExact() throws {
        let base = [
            "trace.synthetic.requests=100", "trace.synthetic.output_tokens.min=4000",
            "trace.synthetic.output_tokens.max=8000",
            "traffic.max_in_flight=8", "traffic.rate_rps=0.2", "policy.offload_threshold=0.2"
        ]
        let path = packageRoot + "/Scenarios/splitreason-a6000.yaml"
        let exact = try Simulation.run(try ScenarioLoader.load(path: path, overrides: base))
        let coarse = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: base + ["simulation.coalesce_tokens=64"]))
        XCTAssertGreaterThan(number(exact.summary, "requests_rejected")!, 0)
        XCTAssertTrue(coarse.scenario.simulation.exactRerun)
        guard case .object(var pairs) = coarse.summary else { return XCTFail("summary is not an object") }
        XCTAssertEqual(pairs.last?.0, "simulation")
        pairs.removeLast()
        XCTAssertEqual(JSONWriter.write(.object(pairs)), JSONWriter.write(exact.summary))
    }

    func testCoalesceTokensIsCheckedAndDefaultsToExact() throws {
        XCTAssertEqual(try ScenarioLoader.load(path: nil).simulation.coalesceTokens, 0)
        XCTAssertThrowsError(try ScenarioLoader.load(path: nil, overrides: ["simulation.coalesce_tokens=-1"]))
        XCTAssertThrowsError(try ScenarioLoader.load(path: nil, overrides: ["simulation.coalesce=64"]))
    }
}
