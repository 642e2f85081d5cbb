import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `tune` on a scenario whose answer is known by hand: requests of 100 tokens whose
/// difficulties are 0.01, 0.02, …, 1.00, so threshold t offloads the tokens with d > t: a share
/// of (100 − ⌊100t⌋)/100. Segments have no minimum length, and the large model is slower per token.
final class TuneTests: XCTestCase {
    func family(_ dir: String) throws -> ScenarioFamily {
        try ScenarioFamily(path: try writeRampScenario(dir), overrides: [])
    }

    /// Target share 0.25: any t in [0.75, 0.76) offloads exactly 25 tokens.
    func testTargetOffloadShare() throws {
        let tuner = Tuner(
            family: try family(tempDir()),
            spec: TuneSpec(
                objective: nil, constraints: [], target: ("offload.token_fraction", 0.25),
                axes: [.continuous(path: "policy.offload_threshold", lo: 0, hi: 1)]))
        let r = try tuner.run()
        let t = Double(r.best!.config[0].value)!
        XCTAssertEqual(r.best!.summary.number(at: "offload.token_fraction"), 0.25)
        XCTAssertGreaterThanOrEqual(t, 0.75 - 1e-12)
        XCTAssertLessThan(t, 0.76)
        // A proper 1-D search, not a fine grid: 9 scan points + O(log(1/tol)) Brent steps.
        XCTAssertLessThan(r.simulations, 30)
    }

    /// Minimise mean latency subject to offloading at least 30%: latency grows with the offloaded
    /// share, so the optimum is the highest threshold that still offloads 30 tokens: t in [0.70, 0.71).
    func testConstrainedOptimumOnTheBoundary() throws {
        let tuner = Tuner(
            family: try family(tempDir()),
            spec: TuneSpec(
                objective: try Objective.parse("min:latency_ms.e2el.mean"),
                constraints: [try MetricConstraint.parse("offload.token_fraction>=0.3")], target: nil,
                axes: [.continuous(path: "policy.offload_threshold", lo: 0, hi: 1)]))
        let r = try tuner.run()
        let b = r.best!
        XCTAssertTrue(b.feasible)
        XCTAssertEqual(b.summary.number(at: "offload.token_fraction"), 0.3)
        let t = Double(b.config[0].value)!
        XCTAssertGreaterThanOrEqual(t, 0.70 - 1e-12)
        XCTAssertLessThan(t, 0.71)
        // Hand-computed latency of that split: small 70 tokens (prefill 10), large 30, small none.
        // small: (1 + 0.1·10) + 69·11 = 761; 5 there; large: (2 + 0.2·80) + 29·32 = 946; 5 back.
        XCTAssertEqual(b.summary.number(at: "latency_ms.e2el.mean")!, 761 + 5 + 946 + 5, accuracy: 1e-6)
    }

    func testConstraintAndObjectiveParsing() throws {
        XCTAssertEqual(
            try MetricConstraint.parse("latency_ms.e2el.p99 <= 30000"),
            MetricConstraint(key: "latency_ms.e2el.p99", relation: .le, bound: 30000))
        XCTAssertEqual(try MetricConstraint.parse("accuracy.predicted>=0.4").relation, .ge)
        XCTAssertThrowsError(try MetricConstraint.parse("accuracy.predicted>=high"))
        XCTAssertThrowsError(try MetricConstraint.parse("accuracy.predicted=0.4"))
        XCTAssertEqual(try Objective.parse("cost"), Objective(key: "cost_usd.per_1k_requests", maximize: false))
        XCTAssertThrowsError(try Objective.parse("cheapest"))
        XCTAssertEqual(
            try TuneAxis.parse("policy.offload_threshold=0:1"),
            .continuous(path: "policy.offload_threshold", lo: 0, hi: 1))
        XCTAssertThrowsError(try TuneAxis.parse("policy.offload_threshold=1:0"))
    }

    /// Bad tune input through the real binary: exit 2 and a message that names the problem.
    func testBadTuneInputExits2() throws {
        let cases: [([String], String)] = [
            (["--objective", "cost", "--vary", "policy.offload_treshold=0:1"], "offload_treshold"),
            (["--objective", "cost", "--vary", "policy.offload_threshold=0.9:0.1"], "empty"),
            (
                [
                    "--objective", "cost", "--constraint", "latency_ms.e2el.p99<=fast", "--vary",
                    "policy.offload_threshold=0:1"
                ], "not a number"
            ),
            (
                [
                    "--objective", "cost", "--constraint", "latency_ms.e2el.p999<=100", "--vary",
                    "policy.offload_threshold=0:1"
                ], "did you mean 'latency_ms.e2el.p99'"
            ),
            (["--objective", "cost", "--vary", "policy.offload_threshold=0:2"], "offload_threshold"),
            (["--target", "offload.token_fraction", "--vary", "policy.offload_threshold=0:1"], "KEY=VALUE")
        ]
        for (args, needle) in cases {
            let r = try runCLI(["tune"] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
        // Valid input that no configuration satisfies: exit 1, the least bad is reported.
        let r = try runCLI([
            "tune", "--objective", "cost", "--constraint", "latency_ms.e2el.p99<=1", "--vary",
            "policy.offload_threshold=0:1", "--scan", "3"
        ])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stdout.contains("NOT FEASIBLE"), r.stdout)
    }
}

/// `whatif`: a GPU price change moves cost by (Δprice × GPU-hours) exactly and nothing else
/// (common random numbers: same arrivals, same schedule).
final class WhatIfTests: XCTestCase {
    func testPriceDeltaIsExact() throws {
        let family = try ScenarioFamily(path: nil, overrides: [])
        let w = try WhatIf(
            family: family, grid: try Grid([GridAxis(path: "cost.large.usd_per_gpu_hour", values: ["2", "5"])]))
        let (base, rows) = try w.run(jobs: 2)
        let sc = try family.scenario()
        let large = sc.tiers.first { $0.name == "large" }!
        let gpuHours = Double(large.replicas * large.tensorParallel) * base.number(at: "duration_s")! / 3600
        for (k, price) in [2.0, 5.0].enumerated() {
            XCTAssertEqual(
                rows[k].number(at: "cost_usd.total")! - base.number(at: "cost_usd.total")!,
                (price - large.cost.usdPerGpuHour) * gpuHours, accuracy: 1e-9)
            XCTAssertEqual(rows[k].number(at: "latency_ms.e2el.p99"), base.number(at: "latency_ms.e2el.p99"))
        }
        let j = w.json(baseline: base, rows: rows)
        XCTAssertEqual(
            j["rows"].flatMap {
                if case .array(let a) = $0 { return a.count }
                return nil
            }, 2)
    }

    func testBadWhatIfInputExits2() throws {
        for (args, needle) in [
            (["--vary", "cost.large.usd_per_gpu_hr=2,3"], "unknown field"),
            (["--vary", "network.rtt_ms=5:1:1"], "empty"),
            (["--vary", "network.rtt_ms=5", "--metric", "latency_ms.e2el.p98"], "did you mean")
        ] {
            let r = try runCLI(["whatif"] + args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }
}

#if canImport(FoundationXML)
import FoundationXML
#endif

/// `report`: self-contained HTML whose charts are well-formed SVG and reference nothing outside.
final class ReportTests: XCTestCase {
    func testReportIsSelfContainedAndWellFormed() throws {
        let dir = tempDir()
        let r = try runCLI(["report", "--thresholds", "0:1:0.25", "--out", dir, "--name", "t"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = try String(contentsOfFile: dir + "/t/index.html", encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 7, "4 threshold curves, CDFs, Pareto, memory")
        let external = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        for needle in ["http://", "https://", "<script", "src="] { XCTAssertFalse(external.contains(needle), needle) }
        for f in [
            "threshold-accuracy", "threshold-latency", "threshold-cost", "threshold-offload", "latency-cdf", "pareto",
            "memory"
        ] {
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/t/\(f).svg"))
            let parser = XMLParser(data: data)
            XCTAssertTrue(parser.parse(), "\(f).svg: \(String(describing: parser.parserError))")
            XCTAssertTrue(try String(contentsOfFile: dir + "/t/report.md", encoding: .utf8).contains("](\(f).svg)"))
        }
        // thresholds.csv: one row per threshold; exactly the rows marked Pareto agree with Pareto.frontier.
        let csv = try String(contentsOfFile: dir + "/t/thresholds.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 1 + 5)
        XCTAssertTrue(csv[0].hasPrefix("offload_threshold,"))
        let bad = try runCLI(["report", "--thresholds", "1:0:0.1", "--out", dir])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--thresholds"), bad.stderr)
    }
}
