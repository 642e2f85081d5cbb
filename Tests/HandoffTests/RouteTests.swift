import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `route`: whole-request routing. Its ends reproduce the single-tier policies number for number.
final class RouteTests: XCTestCase {
    /// Every summary key but the policy's own parameters.
    func withoutPolicy(_ s: JSONValue) -> [String: String] {
        Dictionary(
            uniqueKeysWithValues: SimulationOutput.flatten(s).filter {
                // Costs and offload.source differ by design: route can use both tiers, so it pays
                // for both and offloads by difficulty; a single-tier policy pays for its own tier.
                !$0.0.hasPrefix("policy.") && !$0.0.hasPrefix("cost_usd.") && $0.0 != "offload.source"
            })
    }

    func testThresholdEndsEqualSingleTierPolicies() throws {
        let path = packageRoot + "/Scenarios/route-default.yaml"
        let sc = try ScenarioLoader.load(path: path)
        let trace = try Simulation.loadTrace(sc)
        let route = sc.policy as! RoutePolicy
        let maxScore = (0..<trace.count).map { route.score(trace: trace, request: $0) }.max()!
        XCTAssertLessThan(maxScore, 1)
        let large = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: ["policy.name=large-only"]), trace: trace)
        let small = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: ["policy.name=small-only"]), trace: trace)
        let all = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: ["policy.route_threshold=0"]), trace: trace)
        let none = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: ["policy.route_threshold=1"]), trace: trace)
        XCTAssertEqual(withoutPolicy(all.summary), withoutPolicy(large.summary))
        XCTAssertEqual(withoutPolicy(none.summary), withoutPolicy(small.summary))
        XCTAssertEqual(all.summary.number(at: "cost_usd.by_tier.large"), large.summary.number(at: "cost_usd.total"))
        XCTAssertEqual(none.summary.number(at: "cost_usd.by_tier.small"), small.summary.number(at: "cost_usd.total"))
        XCTAssertEqual(all.summary.number(at: "offload.request_fraction"), 1)
        XCTAssertEqual(none.summary.number(at: "offload.request_fraction"), 0)
    }

    /// `tune --target` calibrates τ to a share of large-model requests (RouteLLM's calibration).
    func testTuneTargetsLargeRequestShare() throws {
        let tuner = Tuner(
            family: try ScenarioFamily(path: packageRoot + "/Scenarios/route-default.yaml", overrides: []),
            spec: TuneSpec(
                objective: nil, constraints: [], target: ("offload.request_fraction", 0.2),
                axes: [.continuous(path: "policy.route_threshold", lo: 0, hi: 1)]))
        let r = try tuner.run()
        XCTAssertEqual(r.best!.summary.number(at: "offload.request_fraction")!, 0.2, accuracy: 1.0 / 300)
    }
}

extension SingleRequestTests {
    /// The single-request trace of SingleRequestTests has mean difficulty (5·0.9 + 15·0.1)/20 = 0.3:
    /// τ = 0.29 sends it to the large tier (large-only's hand-computed latency), τ = 0.31 keeps it small
    /// (difficulties are stored as Float: the mean is 0.29999999, so τ = 0.3 itself is not a boundary to test).
    func testRouteSingleRequestLatencies() throws {
        let large = try run("route", extra: ", route_threshold: 0.29")
        let expected: Double = 5 + 22 + 608 + 5  // large-only's: there, prefill, 19 steps of 32, back
        XCTAssertEqual(large.e2elS * 1000, expected, accuracy: 1e-9)
        XCTAssertEqual(large.offloadedTokens, 20)
        let small = try run("route", extra: ", route_threshold: 0.31")
        XCTAssertEqual(small.e2elS * 1000, 220, accuracy: 1e-9)  // small-only's: 11 + 19·11
        XCTAssertEqual(small.offloadedTokens, 0)
        // max and p90 scores: 0.9 ≥ 0.5 routes large.
        XCTAssertEqual(try run("route", extra: ", route_threshold: 0.5, route_score: max").offloadedTokens, 20)
        XCTAssertEqual(try run("route", extra: ", route_threshold: 0.5, route_score: p90").offloadedTokens, 20)
    }

}

extension SingleRequestTests {
    /// Speculative decoding, k = 4, acceptance from the trace (difficulty ≤ 0.5 accepted): tokens
    /// 1–4 are hard, so four rounds accept nothing (1 token each), then three rounds accept all 4
    /// (5 tokens each): 1 + 4 + 15 = 20. A round: 5 ms to the draft, its prefill of what it lacks
    /// + 3 decode steps of 11, 5 ms to the target, its verification of k + 1 = 5 tokens (2 + 0.2·5):
    /// the target's own last token is in no KV cache yet. Rejected drafts leave the KV.
    func testSpeculativeHandComputed() throws {
        let q = try run("speculative", extra: ", draft_tokens: 4, acceptance_from: trace, accept_threshold: 0.5")
        XCTAssertEqual(q.ttftS * 1000, 32, accuracy: 1e-9)  // 5 there, prefill 100: 22, 5 back
        let rounds: [Double] = [
            5 + 11.1 + 33 + 5 + 3.0,  // draft prefills 101; target verifies 5
            47.1, 47.1, 47.1,  // draft prefills 1 (the target's token)
            5 + 34.1 + 5 + 3.0,  // all 4 accepted
            5 + 34.2 + 5 + 3.0, 5 + 34.2 + 5 + 3.0
        ]  // draft prefills 2 (last draft + target's token)
        let expected = 27 + rounds.reduce(0, +) + 5
        XCTAssertEqual(q.e2elS * 1000, expected, accuracy: 1e-9)
        XCTAssertEqual(q.outputTokens, 20)
        XCTAssertEqual(q.handoffs, 14)
    }

    /// Acceptance 1 with k ≥ the output: one round makes every token after the first; acceptance 0:
    /// every round yields exactly the target's one token.
    func testSpeculativeAcceptanceEnds() throws {
        let all = try runAll("speculative", extra: ", draft_tokens: 64, acceptance: 1")
        XCTAssertEqual(all.outcome.requests[0].handoffs, 2)
        let none = try runAll("speculative", extra: ", draft_tokens: 2, acceptance: 0")
        // 18 rounds (positions 1…18) of 2 crossings; the last token needs no draft and follows on the target.
        XCTAssertEqual(none.outcome.requests[0].handoffs, 2 * 18)
        XCTAssertEqual(none.outcome.requests[0].outputTokens, 20)
        // Lossless: the accuracy is the large model's.
        XCTAssertEqual(none.summary.number(at: "offload.token_fraction"), 1)
    }
}
