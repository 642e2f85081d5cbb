import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// The typed summary (`SimulationSummary`): its JSON has the stable keys of docs/output.md in one
/// fixed order, and it round-trips through Foundation's JSON coders.
final class SummaryTests: XCTestCase {
    /// The top-level keys, in the order docs/output.md lists them and every output writes them.
    func testKeyOrderIsFixed() throws {
        let r = try Simulation.run(try ScenarioLoader.load(path: nil))
        guard case .object(let pairs) = r.summary else { return XCTFail("not an object") }
        XCTAssertEqual(
            pairs.map(\.0),
            [
                "scenario", "policy", "requests", "requests_failed", "requests_rejected", "duration_s",
                "throughput_rps",
                "output_tokens_per_s", "latency_ms", "offload", "memory_gib", "utilization", "achieved", "preemptions",
                "cost_usd", "accuracy", "slo", "windows", "stability", "events", "seed"
            ])
        guard case .object(let e2el)? = r.summary["latency_ms"]?["e2el"] else { return XCTFail("no e2el") }
        XCTAssertEqual(e2el.map(\.0), ["mean", "p50", "p90", "p95", "p99"])
        XCTAssertEqual(r.summary.number(at: "latency_ms.e2el.p99"), r.typedSummary.latencyMs.e2el.p99)
        XCTAssertEqual(
            r.summary.number(at: "memory_gib.large.kv_capacity_tokens"),
            Double(r.typedSummary.memoryGib["large"]!.kvCapacityTokens))
        // Optional sections appear only when they apply, after `seed`.
        let gated = try Simulation.run(try ScenarioLoader.load(path: packageRoot + "/Scenarios/load-guard-peak.yaml"))
        guard case .object(let g) = gated.summary else { return XCTFail("not an object") }
        XCTAssertEqual(g.suffix(3).map(\.0), ["events", "seed", "offload_gate"])
    }

    /// No outcome labels: `accuracy.predicted` and `ci95` are null (present), and the
    /// small/large-only figures are left out.
    func testAccuracyWithoutLabelsIsNull() throws {
        let r = try Simulation.run(try ScenarioLoader.load(path: packageRoot + "/Scenarios/llamacpp-local.yaml"))
        XCTAssertNil(r.accuracy)
        XCTAssertEqual(
            r.summary["accuracy"],
            .object([
                ("source", .string("none")), ("predicted", .null), ("ci95", .null), ("labeled_requests", .number(0))
            ]))
    }

    /// Encoded with Foundation's JSONEncoder and decoded with JSONDecoder, the summary encodes to
    /// the same JSON again (key order aside: Foundation's coders keep none).
    func testRoundTripThroughFoundation() throws {
        let r = try Simulation.run(try ScenarioLoader.load(path: packageRoot + "/Scenarios/api-offload.yaml"))
        let data = try JSONEncoder().encode(r.typedSummary)
        let back = try JSONDecoder().decode(SimulationSummary.self, from: data)
        func sorted(_ v: JSONValue) -> [String: String] {
            Dictionary(uniqueKeysWithValues: SimulationOutput.flatten(v))
        }
        XCTAssertEqual(sorted(back.json), sorted(r.summary))
        XCTAssertEqual(back.costUsd.byTier["large"], r.typedSummary.costUsd.byTier["large"])
    }
}
