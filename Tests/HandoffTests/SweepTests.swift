import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

final class SweepTests: XCTestCase {
    /// Definition, written independently: i is on the frontier iff no j is ≥ in all objectives
    /// (after turning minimised ones into maximised) and > in one.
    func bruteForce(_ p: [[Double]], _ senses: [Pareto.Sense]) -> [Bool] {
        p.indices.map { i in
            !p.indices.contains { j in
                j != i
                    && (0..<senses.count).allSatisfy { k in
                        senses[k] == .maximize ? p[j][k] >= p[i][k] : p[j][k] <= p[i][k]
                    }
                    && (0..<senses.count).contains { k in senses[k] == .maximize ? p[j][k] > p[i][k] : p[j][k] < p[i][k]
                    }
            }
        }
    }

    func testParetoMatchesBruteForce() {
        var rng = RandomStream(seed: 3, name: "pareto-test")
        for trial in 0..<200 {
            let n = 1 + rng.int(below: 60)
            let m = 1 + rng.int(below: 3)
            // Coarse values so ties happen.
            let pts = (0..<n).map { _ in (0..<m).map { _ in Double(rng.int(below: 6)) } }
            let senses = (0..<m).map { _ in rng.int(below: 2) == 0 ? Pareto.Sense.maximize : .minimize }
            XCTAssertEqual(
                Pareto.frontier(pts.map { $0.map { Optional($0) } }, senses: senses), bruteForce(pts, senses),
                "trial \(trial)")
        }
        // Unknown objectives are never on the frontier and never dominate.
        XCTAssertEqual(Pareto.frontier([[1, nil], [0, 0]], senses: [.maximize, .maximize]), [false, true])
        // A configuration that rejected or failed requests never makes the frontier, even when its
        // served requests look better on every objective.
        func summary(_ acc: Double, _ p99: Double, _ cost: Double, failed: Double) -> JSONValue {
            .object([
                ("requests_failed", .number(failed)),
                ("latency_ms", .object([("e2el", .object([("p99", .number(p99))]))])),
                ("cost_usd", .object([("per_1k_requests", .number(cost))])),
                ("accuracy", .object([("predicted", .number(acc))]))
            ])
        }
        XCTAssertEqual(
            SweepOutput.frontier([summary(0.9, 10, 1, failed: 3), summary(0.5, 20, 2, failed: 0)]), [false, true])
    }

    func testGridParsing() throws {
        XCTAssertEqual(try GridAxis.parse("policy.offload_threshold=0.5:0.95:0.05").values.count, 10)
        XCTAssertEqual(try GridAxis.parse("a.b=0.1:0.3:0.1").values, ["0.1", "0.2", "0.3"])
        XCTAssertEqual(
            try GridAxis.parse("tiers.large.gpu=H100-SXM-80GB, A100-SXM-80GB").values,
            ["H100-SXM-80GB", "A100-SXM-80GB"])
        let g = try Grid([GridAxis(path: "a", values: ["1", "2"]), GridAxis(path: "b", values: ["x", "y", "z"])])
        XCTAssertEqual(g.count, 6)
        XCTAssertEqual(g.configuration(0).map(\.value), ["1", "x"])
        XCTAssertEqual(g.configuration(4).map(\.value), ["2", "y"])
        XCTAssertThrowsError(try GridAxis.parse("a=0.9:0.5:0.1"))
        XCTAssertThrowsError(try GridAxis.parse("a=1:x:2"))
        XCTAssertThrowsError(try GridAxis.parse("a=1,,2"))
        XCTAssertThrowsError(try Grid([GridAxis(path: "a", values: ["1"]), GridAxis(path: "a", values: ["2"])]))
    }

    let grid = [
        "--grid", "policy.offload_threshold=0.3,0.6,0.9", "--grid", "tiers.large.replicas=1:2:1", "--set",
        "trace.synthetic.requests=60"
    ]

    func files(_ dir: String) throws -> [String] {
        try ["results.csv", "results.json", "results.jsonl"].map {
            try String(contentsOfFile: dir + "/" + $0, encoding: .utf8)
        }
    }

    func testShardsMergeToTheSingleRunBytes() throws {
        let one = tempDir()
        XCTAssertEqual(try runCLI(["sweep"] + grid + ["--out", one]).status, 0)
        var shards: [String] = []
        for i in 0..<4 {
            let d = tempDir()
            let r = try runCLI(["sweep"] + grid + ["--out", d, "--shard", "\(i)/4", "--jobs", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            shards.append(d)
        }
        let merged = tempDir()
        let m = try runCLI(["merge"] + shards + ["--out", merged])
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssert(try files(merged) == files(one), "merged shards differ from one run")
        // A missing shard is an error, not a silently smaller table.
        let bad = try runCLI(["merge"] + shards.dropLast() + ["--out", tempDir()])
        XCTAssertEqual(bad.status, 2)
        XCTAssert(bad.stderr.contains("in no shard"), bad.stderr)
    }

    func testResumeAfterSIGKILLGivesTheSameFiles() throws {
        let args = [
            "--grid", "policy.offload_threshold=0.05:0.95:0.05", "--grid", "tiers.large.replicas=1,2", "--set",
            "trace.synthetic.requests=120", "--jobs", "1"
        ]
        let whole = tempDir()
        XCTAssertEqual(try runCLI(["sweep"] + args + ["--out", whole]).status, 0)
        let out = tempDir()
        let p = try startCLI(["sweep"] + args + ["--out", out])
        let journal = out + "/results.jsonl"
        waitForLines(journal, 6)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let partial = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n").count - 1
        XCTAssertGreaterThanOrEqual(partial, 5)
        XCTAssertLessThan(partial, 38, "killed before the end")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.csv"), "final files only at the end")
        // Also cut the last line in half, as a kill mid-write would.
        var text = try String(contentsOfFile: journal, encoding: .utf8)
        text.removeLast(20)
        try text.write(toFile: journal, atomically: true, encoding: .utf8)
        let r = try runCLI(["sweep"] + args + ["--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(try files(out) == files(whole), "the resumed sweep differs from an uninterrupted one")
    }

    func testSweepIsIndependentOfJobs() throws {
        let a = tempDir()
        let b = tempDir()
        XCTAssertEqual(try runCLI(["sweep"] + grid + ["--out", a, "--jobs", "1"]).status, 0)
        XCTAssertEqual(try runCLI(["sweep"] + grid + ["--out", b, "--jobs", "2"]).status, 0)
        XCTAssert(try files(a) == files(b), "results depend on --jobs")
    }

    func testBadGridsAreInputErrors() throws {
        for (g, expected) in [
            ("tiers.large.replicaz=1,2", "tiers.large.replicaz"), ("policy.offload_threshold=0.9:0.5:0.1", "empty"),
            ("policy.offload_threshold=0.1:x:0.1", "not a range"),
            ("tiers.large.gpu=H100-SXM-80GB,Z80", "unknown GPU 'Z80'"),
            ("policy.offload_threshold", "expected path.to.field=values")
        ] {
            let out = tempDir() + "/o"
            let r = try runCLI(["sweep", "--grid", g, "--out", out])
            XCTAssertEqual(r.status, 2, "\(g): \(r.stderr)")
            XCTAssert(r.stderr.contains(expected), "\(g): \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/results.csv"))
        }
    }
}
