import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Policy `single`: a plain deployment, one tier of any name.
final class SingleTierTests: XCTestCase {
    func yaml(tier: String, policy: String) -> String {
        """
        trace: {synthetic: {requests: 40, seed: 3}}
        traffic: {rate_rps: 0.5}
        models:
          llama: {name: Llama-3.1-8B}
        tiers:
          \(tier):
            model: llama
            gpu: A100-SXM-80GB
        policy: \(policy)
        """
    }

    /// The same tier under another name serves exactly as small-only does on a tier named small.
    func testAnyNameMatchesSmallOnly() throws {
        let single = try Simulation.run(
            try scenario(yaml(tier: "prod", policy: "{name: single}")), checkingInvariants: true)
        let small = try Simulation.run(try scenario(yaml(tier: "small", policy: "{name: small-only}")))
        XCTAssertEqual(single.scenario.policy.roles, ["prod"])
        for key in [
            "requests", "duration_s", "latency_ms.ttft.p50", "latency_ms.e2el.p99", "latency_ms.tpot.mean",
            "cost_usd.total", "events"
        ] {
            XCTAssertEqual(number(single.summary, key), number(small.summary, key), key)
        }
        XCTAssertEqual(number(single.summary, "offload.token_fraction"), 0)
        XCTAssertEqual(single.summary["policy"]?["tier"], .string("prod"))
    }

    func testTierIsNamedWhenThereAreSeveral() throws {
        XCTAssertThrowsError(try ScenarioLoader.load(path: nil, overrides: ["policy.name=single"])) { e in
            XCTAssertTrue("\(e)".contains("one of small, large"), "\(e)")
        }
        let large = try ScenarioLoader.load(path: nil, overrides: ["policy.name=single", "policy.tier=large"])
        XCTAssertEqual(large.policy.roles, ["large"])
        XCTAssertNoThrow(try Simulation.run(large))
        XCTAssertThrowsError(
            try ScenarioLoader.load(path: nil, overrides: ["policy.name=single", "policy.tier=medium"]))
    }
}
