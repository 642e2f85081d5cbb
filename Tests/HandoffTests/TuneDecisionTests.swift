import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// What `tune` says: ties within noise, the grid it resolves, numbers a person reads, and the
/// verdict against the single-tier baselines.
final class TuneDecisionTests: XCTestCase {
    func point(cost: Double, accuracy: Double, gpus: Int, feasible: Bool = true, p99: Double = 1000) -> TunePoint {
        TunePoint(
            config: [("policy.offload_threshold", JSONWriter.number(cost))],
            summary: .object([
                ("cost_usd", .object([("per_1k_requests", .number(cost))])),
                ("accuracy", .object([("predicted", .number(accuracy))])),
                ("latency_ms", .object([("e2el", .object([("p99", .number(p99))]))])), ("requests_failed", .number(0))
            ]), feasible: feasible, gpus: gpus, usdPerHour: Double(gpus))
    }

    func tuner(tie: Double = 0.005, constraints: [MetricConstraint] = [], baselines: Bool = true) throws -> Tuner {
        var spec = TuneSpec(
            objective: try Objective.parse("cost"), constraints: constraints, target: nil,
            axes: [.continuous(path: "policy.offload_threshold", lo: 0, hi: 1)])
        spec.tie = tie
        spec.baselines = baselines
        return Tuner(family: try ScenarioFamily(path: nil, overrides: []), spec: spec)
    }

    /// Costs within 0.5% of the cheapest tie: the most accurate of them wins, then fewer GPUs;
    /// a cost 1% above is not a tie. With --tie 0 the cheapest wins outright.
    func testTiesAreBrokenByAccuracyThenGPUs() throws {
        let pts = [
            point(cost: 1.000, accuracy: 0.50, gpus: 2), point(cost: 1.004, accuracy: 0.60, gpus: 3),
            point(cost: 1.003, accuracy: 0.60, gpus: 2), point(cost: 1.010, accuracy: 0.90, gpus: 1),
            point(cost: 0.500, accuracy: 0.99, gpus: 1, feasible: false)
        ]
        XCTAssertEqual(try tuner().choose(pts)?.summary.number(at: "cost_usd.per_1k_requests"), 1.003)
        XCTAssertEqual(try tuner(tie: 0).choose(pts)?.summary.number(at: "cost_usd.per_1k_requests"), 1.000)
        // Only infeasible points: the least bad by the objective.
        XCTAssertEqual(try tuner().choose([pts[4]])?.feasible, false)
    }

    /// The continuous interval is evaluated on the power-of-ten grid the tolerance resolves, so
    /// the value printed is the value simulated.
    func testKnobsLieOnTheResolvedGrid() throws {
        XCTAssertEqual(Tuner.resolution(lo: 0, hi: 1, tolerance: 0.01), -2)
        XCTAssertEqual(Tuner.resolution(lo: 0, hi: 32, tolerance: 0.01), -1)
        XCTAssertEqual(Tuner.resolution(lo: 0, hi: 1, tolerance: 0.001), -3)
        XCTAssertEqual(Tuner.snap(0.4218600642172626, exponent: -2, lo: 0, hi: 1), 0.42)
        XCTAssertEqual(JSONWriter.number(Tuner.snap(0.125, exponent: -2, lo: 0, hi: 1)), "0.13")
        XCTAssertEqual(Tuner.snap(17.3, exponent: 1, lo: 0, hi: 32), 20)
        XCTAssertEqual(Tuner.snap(1.004, exponent: -2, lo: 0, hi: 1), 1)
        let r = try tuner(baselines: false).run()
        for p in r.evaluations {
            let v = p.config[0].value
            XCTAssertLessThanOrEqual(v.split(separator: ".").dropFirst().first?.count ?? 0, 2, v)
        }
    }

    func testHumanNumbers() {
        XCTAssertEqual(HumanNumber.format(14466.3), "14470")
        XCTAssertEqual(HumanNumber.format(0.45213), "0.4521")
        XCTAssertEqual(HumanNumber.format(2.0), "2")
        XCTAssertEqual(HumanNumber.format(0.000123456), "0.0001235")
        XCTAssertEqual(HumanNumber.format(-77558.9), "-77560")
        XCTAssertEqual(HumanNumber.format(19366), "19366")
        XCTAssertEqual(HumanNumber.format(9.99996), "10")
        XCTAssertEqual(HumanNumber.format(12.5, digits: 3), "12.5")
        XCTAssertEqual(HumanNumber.format(nil), "—")
        // A suggested lower bound rounds down, so the value it came from still meets it.
        XCTAssertEqual(HumanNumber.roundedDown(0.3427), "0.342")
        XCTAssertEqual(HumanNumber.roundedDown(0.3395), "0.339")
        XCTAssertEqual(HumanNumber.roundedDown(0.5), "0.5")
        XCTAssertEqual(HumanNumber.format(123_456_789.4), "123500000")
    }

    /// ε-dominance: written independently of `Pareto.mark`, and the case: 28 costs flat
    /// to 0.13% with rising accuracy leave one point on the frontier, not 24.
    func testEpsilonParetoFrontier() {
        var rng = RandomStream(seed: 9, name: "eps-pareto")
        for trial in 0..<200 {
            let n = 1 + rng.int(below: 30)
            let pts = (0..<n).map { _ in (0..<2).map { _ in 1 + Double(rng.int(below: 40)) / 100 } }
            let eps = 0.01
            func dominates(_ j: Int, _ i: Int) -> Bool {
                var noWorse = true
                var better = false
                for k in 0..<2 {
                    let a = pts[i][k]
                    let b = pts[j][k]
                    if b < a - eps * a { noWorse = false }
                    if b > a + eps * a { better = true }
                }
                return j != i && noWorse && better
            }
            let expect: [Bool] = pts.indices.map { i in !pts.indices.contains { j in dominates(j, i) } }
            let got = Pareto.frontier(pts.map { $0.map { Optional($0) } }, senses: [.maximize, .maximize], tolerance: eps)
            if expect.contains(true) { XCTAssertEqual(got, expect, "trial \(trial)") }
        }
        let flat: [[Double?]] = (0..<28).map { (k: Int) -> [Double?] in
            let x = Double(k)
            return [0.40 + 0.01 * x, 0.4521 + 0.0006 * x / 27]
        }
        let exact = Pareto.frontier(flat, senses: [.maximize, .minimize])
        let eps = Pareto.frontier(flat, senses: [.maximize, .minimize], tolerance: Pareto.defaultTolerance)
        XCTAssertEqual(exact.filter { $0 }.count, 28)
        XCTAssertEqual(eps, (0..<28).map { $0 == 27 })
    }

    /// The README's `tune --objective cost` example: offloading everything (τ = 0) is the
    /// hybrid's cheapest feasible point, and it pays for the small GPU that large-only does not.
    /// The verdict says so, with the large-only figure a plain `simulate` gives and the
    /// percentage computed from the two costs.
    func testVerdictAgainstLargeOnly() throws {
        let t = try tuner(constraints: [
            try MetricConstraint.parse("latency_ms.e2el.p99<=120000"), try MetricConstraint.parse("accuracy.predicted>=0.40")
        ])
        let r = try t.run()
        XCTAssertEqual(r.baselines.map(\.name), ["small-only", "large-only"])
        let large = try t.family.derived(["policy={name: single, tier: large}"]).summary()
        let b = r.baselines[1].best!
        XCTAssertTrue(b.feasible)
        XCTAssertEqual(b.summary, large)
        XCTAssertFalse(r.baselines[0].best!.feasible, "small-only misses accuracy ≥ 0.40")
        let h = r.best!.summary.number(at: "cost_usd.per_1k_requests")!
        let c = large.number(at: "cost_usd.per_1k_requests")!
        XCTAssertLessThan(c, h)
        // The gap is the small L4's bill: $/hour × the hybrid's run ÷ its requests (± the two runs' durations).
        let small = try t.family.scenario().tiers.first { $0.name == "small" }!
        let gap = small.usdPerHour * r.best!.summary.number(at: "duration_s")! / 3600 / 300 * 1000
        XCTAssertEqual(h - c, gap, accuracy: 0.02 * gap)
        let v = try XCTUnwrap(r.verdict)
        XCTAssertTrue(v.hasPrefix("Do not deploy the hybrid: large-only meets the constraints"), v)
        XCTAssertTrue(v.contains("\(HumanNumber.format((h - c) / h * 100, digits: 3))% lower"), v)
    }

    /// An accuracy edge inside both predictions' 95% intervals is said to be unresolved; one outside
    /// either interval, or an objective other than accuracy, adds nothing.
    func testUnresolvedAccuracyEdgeIsSaid() throws {
        func withCI(_ p: TunePoint, _ lo: Double, _ hi: Double) -> TunePoint {
            var q = p
            guard case .object(var pairs) = q.summary, let k = pairs.firstIndex(where: { $0.0 == "accuracy" }),
                case .object(var acc) = pairs[k].1
            else { return q }
            acc.append(("ci95", .numbers([lo, hi])))
            pairs[k].1 = .object(acc)
            q.summary = .object(pairs)
            return q
        }
        let t = try tuner()
        let acc = try Objective.parse("accuracy")
        let h0 = point(cost: 1, accuracy: 0.712, gpus: 2)
        let b0 = point(cost: 1, accuracy: 0.708, gpus: 1)
        let h = withCI(h0, 0.54, 0.875)
        let b = withCI(b0, 0.54, 0.875)
        let s = t.unresolved(h, b, acc, other: "large-only")
        XCTAssertTrue(s.contains("not resolved") && s.contains("large-only [0.54, 0.875]"), s)
        XCTAssertEqual(t.unresolved(withCI(h0, 0.71, 0.72), withCI(b0, 0.70, 0.709), acc, other: "x"), "")
        XCTAssertEqual(t.unresolved(h, b, try Objective.parse("cost"), other: "x"), "")
    }

    /// Ranges where only the hybrid meets a bound: from the hybrid's best value to the baselines'
    /// best, holding the other constraints; a gap within the tie is not a range.
    func testHybridOnlyRanges() throws {
        let t = try tuner(constraints: [try MetricConstraint.parse("latency_ms.e2el.p99<=500")])
        var r = TuneResult(
            best: nil, evaluations: [point(cost: 2, accuracy: 0.5, gpus: 2, p99: 600), point(cost: 3, accuracy: 0.6, gpus: 3, p99: 400)],
            simulations: 0, method: "", note: nil)
        r.baselines = [
            TuneBaseline(name: "large-only", tier: "large", best: nil, evaluations: [point(cost: 1, accuracy: 0.6, gpus: 1, p99: 700)])
        ]
        let ranges = t.hybridOnlyRanges(r)
        XCTAssertEqual(ranges.count, 1)
        XCTAssertEqual(ranges[0].from, 400)
        XCTAssertEqual(ranges[0].to, 700)
        r.baselines[0].evaluations = [point(cost: 1, accuracy: 0.6, gpus: 1, p99: 401)]
        XCTAssertTrue(t.hybridOnlyRanges(r).isEmpty)
        // No baseline evaluated: the hybrid alone meets the bound from its best value on.
        r.baselines[0].evaluations = []
        XCTAssertEqual(t.hybridOnlyRanges(r).first?.from, 400)
        XCTAssertEqual(t.hybridOnlyRanges(r).first?.to, .infinity)
    }

    /// Branch and bound on the GPU bill gives the exhaustive search's answer (the skipped
    /// combinations' $/hour × arrival span already exceeds it), and a GPU the model does not fit
    /// on is skipped with a note, not an error.
    func testPruningGivesTheExhaustiveAnswer() throws {
        func run(_ exhaustive: Bool, jobs: Int = 2) throws -> TuneResult {
            var spec = TuneSpec(
                objective: try Objective.parse("cost"),
                constraints: [try MetricConstraint.parse("latency_ms.e2el.p99<=120000")], target: nil,
                axes: [
                    .continuous(path: "policy.offload_threshold", lo: 0, hi: 1),
                    .discrete(GridAxis(path: "tiers.large.replicas", values: ["1", "2", "3"])),
                    .discrete(GridAxis(path: "tiers.large.gpu", values: ["H100-SXM-80GB", "A100-SXM-80GB", "L4-24GB"]))
                ])
            spec.scanPoints = 5
            spec.exhaustive = exhaustive
            spec.jobs = jobs
            let t = Tuner(family: try ScenarioFamily(path: nil, overrides: []), spec: spec)
            let r = try t.run()
            json.append(JSONWriter.write(t.json(r), pretty: false))
            return r
        }
        var json: [String] = []
        let fast = try run(false)
        let full = try run(true)
        XCTAssertEqual(fast.best?.summary, full.best?.summary)
        XCTAssertEqual(fast.best?.config.map(\.value), full.best?.config.map(\.value))
        XCTAssertEqual(fast.verdict, full.verdict)
        XCTAssertLessThan(fast.evaluations.count, full.evaluations.count)
        XCTAssertTrue(fast.note?.contains("were not simulated") == true, fast.note ?? "")
        // The 14B model's 27.6 GiB of bf16 weights leave no KV room on a 24 GiB L4: 3 of 9 skipped.
        XCTAssertTrue(full.note?.contains("3 of 9 combinations do not fit in GPU memory") == true, full.note ?? "")
        XCTAssertFalse(full.evaluations.contains { $0.config.contains { $0.value == "L4-24GB" } })
        // The batches do not depend on the threads: one thread writes the same JSON as two.
        _ = try run(false, jobs: 1)
        XCTAssertEqual(json[2], json[0])
    }

    /// The deployable answer: a `vllm serve` line per paid tier with the knobs the search chose,
    /// and a scenario that reproduces the prediction byte for byte from another directory (its
    /// relative trace path made absolute).
    func testDeploymentReproducesThePrediction() throws {
        let dir = tempDir()
        _ = try writeRampScenario(dir)  // ramp.yaml beside ramp.jsonl, a relative trace path
        let out = dir + "/tuned"
        let r = try runCLI([
            "tune", dir + "/ramp.yaml", "--objective", "min:latency_ms.e2el.mean", "--constraint",
            "offload.token_fraction>=0.3", "--vary", "policy.offload_threshold=0:1", "--vary",
            "tiers.large.gpu=A100-SXM-80GB,H100-SXM-80GB", "--set", "models.large.kv_dtype=fp8", "--out", out
        ])
        XCTAssertEqual(r.status, 0, r.stderr)
        let tune = try JSONParser.parse(String(contentsOfFile: out + "/tune.json", encoding: .utf8))
        guard case .string(let rec)? = tune["recommended"] else { return XCTFail("no recommended") }
        var best = tune["best"]?["summary"]
        if rec != "hybrid", case .array(let bs)? = tune["baselines"] {
            best = bs.first { $0["name"] == .string(rec) }?["best"]?["summary"]
        }
        let yaml = try String(contentsOfFile: out + "/scenario.yaml", encoding: .utf8)
        XCTAssertTrue(yaml.contains("file: \(dir)/ramp.jsonl"), yaml)
        let sim = try runCLI(["simulate", out + "/scenario.yaml", "--format", "json"], cwd: NSTemporaryDirectory())
        XCTAssertEqual(sim.status, 0, sim.stderr)
        XCTAssertEqual(try JSONParser.parse(sim.stdout), best)
        let serve = try String(contentsOfFile: out + "/serve.sh", encoding: .utf8)
        XCTAssertTrue(
            serve.contains(
                "vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-14B --tensor-parallel-size 1 --max-num-seqs 256 --max-num-batched-tokens 8192 --gpu-memory-utilization 0.9 --dtype bfloat16 --kv-cache-dtype fp8 --port"
            ) || rec == "small-only", serve)
        XCTAssertTrue(r.stdout.contains("verdict: "), r.stdout)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: out + "/bench.sh"))
    }

    /// Every catalogue model's `vllm serve` names a Hugging Face id (ORG/NAME), read from its source.
    func testEveryCatalogueModelHasAHuggingFaceID() throws {
        let pattern = try NSRegularExpression(pattern: "^[A-Za-z0-9-]+/[A-Za-z0-9._-]*[A-Za-z0-9]$")
        for name in Catalog.builtin.models.keys.sorted() {
            let id = Deployment.huggingFaceID(name)
            XCTAssertNotNil(pattern.firstMatch(in: id, range: NSRange(id.startIndex..., in: id)), "\(name): \(id)")
        }
        XCTAssertEqual(Deployment.huggingFaceID("Qwen3-32B"), "Qwen/Qwen3-32B")
    }

    /// `capacity`'s verdict: the cheapest plan, ties within 0.5% broken by accuracy; a baseline as
    /// cheap and as accurate dominates the hybrid; one only cheaper is called less accurate.
    func testCapacityVerdict() {
        func result(_ usd: Double, _ gpus: Int, _ acc: Double) -> CapacityResult {
            CapacityResult(
                tiers: ["small", "large"], plan: CapacityPlan(gpus: ["L4-24GB", "H100-SXM-80GB"], replicas: [1, 1]),
                summary: .object([("accuracy", .object([("predicted", .number(acc))]))]), usdPerHour: usd,
                gpuCount: gpus, headroomRps: nil, candidates: [], simulations: 1)
        }
        func base(_ name: String, _ r: CapacityResult?) -> CapacityBaseline {
            CapacityBaseline(name: name, tier: String(name.prefix { $0 != "-" }), result: r)
        }
        let none = CapacityResult(
            tiers: [], plan: nil, summary: nil, usdPerHour: 0, gpuCount: 0, headroomRps: nil, candidates: [],
            simulations: 0)
        var v = CapacityPlanner.verdict(result(3.00, 2, 0.5), [base("small-only", result(3.5, 2, 0.3)), base("large-only", result(3.01, 1, 0.6))])
        XCTAssertEqual(v.recommended, "large-only", v.sentence)  // within 0.5% of $3.00, more accurate
        XCTAssertTrue(v.sentence.hasPrefix("Do not deploy the hybrid: large-only meets the SLOs at $3.01/hour (1 GPU)"), v.sentence)
        v = CapacityPlanner.verdict(result(2.00, 2, 0.5), [base("small-only", result(1.5, 1, 0.3)), base("large-only", result(3, 1, 0.6))])
        XCTAssertEqual(v.recommended, "small-only")
        XCTAssertTrue(v.sentence.hasPrefix("On cost alone, do not deploy the hybrid: small-only"), v.sentence)
        XCTAssertTrue(v.sentence.contains("25% below the hybrid's $2.00/hour"), v.sentence)
        XCTAssertTrue(v.sentence.contains("--slo 'accuracy.predicted>=0.5'"), v.sentence)
        v = CapacityPlanner.verdict(result(2.00, 2, 0.5), [base("small-only", nil), base("large-only", result(3, 1, 0.6))])
        XCTAssertEqual(v.recommended, "hybrid")
        XCTAssertEqual(v.sentence, "Deploy the hybrid: it meets the SLOs at $2.00/hour (2 GPUs); large-only $3.00/hour (1 GPU), 33.3% more; small-only cannot meet them.")
        v = CapacityPlanner.verdict(none, [base("small-only", nil), base("large-only", result(3, 1, 0.6))])
        XCTAssertEqual(v.recommended, "large-only")
        XCTAssertTrue(v.sentence.hasPrefix("No hybrid plan meets the SLOs"), v.sentence)
        XCTAssertNil(CapacityPlanner.verdict(none, [base("large-only", nil)]).recommended)
    }

    /// `capacity --tp/--dtype`: every GPU × TP × format combination is a candidate shape, and a
    /// plan's overrides set exactly the fields searched (`models.<key>.weight_dtype` for the tier's model).
    func testCapacitySearchesTPAndFormats() throws {
        let p = try CapacityPlanner(
            family: try ScenarioFamily(path: nil, overrides: []), rateRps: 0.5,
            slos: [try MetricConstraint.parse("latency_ms.ttft.p99<=2000", field: "--slo")],
            gpuChoices: ["large": ["H100-SXM-80GB", "A100-SXM-80GB"]], tpChoices: ["large": [1, 2]],
            dtypeChoices: ["large": ["bf16", "fp8"]])
        let shapes = p.shapes()
        XCTAssertEqual(shapes.count, 8)
        XCTAssertEqual(Set(shapes.map { "\($0.gpus[1]) \($0.tensorParallel[1]) \($0.weightDtypes[1])" }).count, 8)
        XCTAssertTrue(shapes.allSatisfy { $0.gpus[0] == "L4-24GB" && $0.tensorParallel[0] == 1 && $0.weightDtypes[0] == "bf16" })
        var plan = shapes[3]
        plan.replicas = [2, 3]
        let o = p.overrides(plan, rate: 0.5)
        XCTAssertTrue(o.contains("tiers.large.tensor_parallel=\(plan.tensorParallel[1])"), "\(o)")
        XCTAssertTrue(o.contains("models.large.weight_dtype=\(plan.weightDtypes[1])"), "\(o)")
        XCTAssertFalse(o.contains { $0.hasPrefix("tiers.small.tensor_parallel") || $0.hasPrefix("models.small.") }, "\(o)")
        let bad = try runCLI(["capacity", "--rate", "1/s", "--slo", "latency_ms.ttft.p99<=2000", "--tp", "large=two"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--tp"), bad.stderr)
        let badTier = try runCLI(["capacity", "--rate", "1/s", "--slo", "latency_ms.ttft.p99<=2000", "--dtype", "huge=fp8"])
        XCTAssertEqual(badTier.status, 2, badTier.stderr)
        XCTAssertTrue(badTier.stderr.contains("no GPU tier named 'huge'"), badTier.stderr)
    }
}
