import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Random scenarios: every token generated exactly once, KV never above capacity, the clock
/// never goes back; and the same seed gives byte-identical JSON.
final class ConservationTests: XCTestCase {
    func randomScenario(_ k: Int, policy: String? = nil, _ overrides: [String] = []) throws -> Scenario {
        try Self.randomScenario(k, policy: policy, overrides)
    }

    /// - Parameter policy: a policy line replacing the drawn one (the draws stay the same).
    static func randomScenario(_ k: Int, policy: String? = nil, _ overrides: [String] = []) throws -> Scenario {
        let rng = RandomStream(seed: UInt64(k), name: "test")
        let policies = ["small-only", "large-only", "splitreason"]
        let modes = ["sequential", "pipelined"]
        // The draws stay in their old order (so each seed gives the same scenario); only the fields
        // the arrival process reads are written, since the loader refuses the others.
        let arrival = ["poisson", "gamma", "closed_loop"][rng.int(below: 3)]
        let rate = 1 + rng.int(below: 20)
        let concurrency = 1 + rng.int(below: 16)
        let traffic =
            arrival == "closed_loop"
            ? "{arrival: closed_loop, concurrency: \(concurrency)}" : "{arrival: \(arrival), rate_rps: \(rate)}"
        // A small GPU memory forces admission limits, eviction and preemption.
        let yaml = """
            seed: \(k)
            trace:
              synthetic:
                requests: \(20 + rng.int(below: 60))
                output_tokens: {median: \(200 + rng.int(below: 3000)), sigma: 0.7, min: 1, max: 12000}
                prompt_tokens: {median: 200, sigma: 1, min: 0, max: 3000}
            traffic: \(traffic)
            gpus:
              tiny: {memory_gib: \(5 + rng.int(below: 4)), memory_bandwidth_gb_s: 300, bf16_tflops: 100}
            models:
              small: {name: DeepSeek-R1-Distill-Qwen-1.5B}
              large: {name: DeepSeek-R1-Distill-Qwen-1.5B}
            tiers:
              small: {gpu: tiny, replicas: \(1 + rng.int(below: 3)), max_num_seqs: \(2 + rng.int(below: 30)), max_num_batched_tokens: \(256 + rng.int(below: 4000)), prefix_caching: \(rng.bernoulli(0.7))}
              large: {gpu: tiny, replicas: \(1 + rng.int(below: 2)), max_num_seqs: \(2 + rng.int(below: 30)), max_num_batched_tokens: \(512 + rng.int(below: 4000))}
            network: {rtt_ms: {distribution: lognormal, median: \(1 + rng.int(below: 50)), sigma: 0.5}}
            policy: {name: \(policies[rng.int(below: 3)]), offload_threshold: \(0.5 + 0.4 * rng.uniform()), min_segment_tokens: \(1 + rng.int(below: 16)), mode: \(modes[rng.int(below: 2)]), chunk_tokens: \(16 + rng.int(below: 256))}
            """
        guard let policy else { return try scenario(yaml) }
        return try scenario(
            yaml.split(separator: "\n").dropLast().joined(separator: "\n") + "\npolicy: {\(policy)}", overrides)
    }

    func testConservationOnRandomScenarios() throws {
        var preemptions = 0
        for k in 0..<40 {
            let sc = try randomScenario(k)
            let trace = try Simulation.loadTrace(sc)
            let r = try Simulation.run(sc, trace: trace, checkingInvariants: true)
            let o = r.outcome
            XCTAssertFalse(o.clockWentBackwards, "scenario \(k)")
            XCTAssertFalse(o.kvOverflow, "scenario \(k)")
            XCTAssertEqual(o.stalledRequests, 0, "scenario \(k)")
            var expected = 0
            for q in o.requests {
                let needed = trace.requests[q.traceIndex].promptTokens + trace.outputTokens(q.traceIndex)
                if q.failed {
                    // Only a request whose context cannot fit in a replica's KV cache may fail.
                    XCTAssertGreaterThan(
                        needed, sc.tiers.map(\.kvCapacityTokens).min()! - 1, "scenario \(k) request \(q.id)")
                    continue
                }
                XCTAssertEqual(q.outputTokens, trace.outputTokens(q.traceIndex), "scenario \(k) request \(q.id)")
                XCTAssertGreaterThanOrEqual(q.e2elS, q.ttftS)
                XCTAssertGreaterThanOrEqual(q.ttftS, 0)
                expected += q.outputTokens
            }
            XCTAssertEqual(o.tiers.reduce(0) { $0 + $1.generatedTokens }, expected, "scenario \(k)")
            assertOutputInvariants(r, "scenario \(k)")
            for (t, tier) in sc.tiers.enumerated() {
                XCTAssertLessThanOrEqual(o.tiers[t].peakKVTokens, tier.kvCapacityTokens)
            }
            preemptions += o.tiers.reduce(0) { $0 + $1.preemptions + $1.evictions }
        }
        XCTAssertGreaterThan(preemptions, 0, "the random scenarios should exercise memory pressure")
    }

    /// One policy line per way each registered policy runs, for the invariant checks below.
    static let everyPolicy = [
        "name: route, route_threshold: 0.4",
        "name: speculative, draft_tokens: 5, acceptance: 0.6",
        "name: specs, acceptance_from: rate, reward_tier: large, beam_width: 4, step_tokens: 24, acceptance: 0.5",
        "name: specs, acceptance_from: rate, reward_tier: large, beam_width: 1, step_tokens: 7",
        "name: splitreason, offload_threshold: 0.3, mode: pipelined, chunk_tokens: 32",
        "name: splitreason, offload_threshold: 0.3, mode: sequential",
        // One step covers the whole output: its tokens are revealed at the end.
        "name: specs, acceptance_from: rate, reward_tier: large, beam_width: 2, step_tokens: 5000",
        "name: llm-modules, variant: per_token",
        "name: llm-modules, variant: prompt",
        "name: small-only",
        "name: large-only",
        "name: single, tier: large",
        // Adaptive policies: refused offloads run on the entry tier.
        "name: load_guard, offload_threshold: 0.3, guard_queue: 0, guard_kv: 0.5",
        "name: load_guard, base: route, route_threshold: 0.3, guard_queue: 1, guard_slope: 0.1",
        "name: offload_budget, offload_threshold: 0.3, budget_tokens: 300, budget_window_s: 2"
    ]

    /// The list above covers every registered policy name (a new policy fails here until it is
    /// added to the invariant checks).
    func testEveryRegisteredPolicyIsChecked() throws {
        let named = Set(
            Self.everyPolicy.compactMap { line in
                line.split(separator: ",").first.map {
                    $0.replacingOccurrences(of: "name:", with: "").trimmingCharacters(in: .whitespaces)
                }
            })
        for name in PolicyRegistry.names {
            XCTAssert(named.contains(name), "ConservationTests.everyPolicy has no line for policy \(name)")
        }
        XCTAssertEqual(named.subtracting(PolicyRegistry.names), [])
    }

    /// The replica bookkeeping checks itself after every event (`checkInvariants()`) under every
    /// policy: speculative rollback, specs branches and pruning, routing, memory pressure.
    func testInvariantsUnderEveryPolicy() throws {
        let policies = Self.everyPolicy
        var pressure = 0
        for (p, policy) in policies.enumerated() {
            for k in 0..<3 {
                // Short outputs keep the per-event check (O(sequences)) quick.
                let sc = try randomScenario(
                    100 + 10 * p + k, policy: policy,
                    // k = 2: some requests have no output tokens at all.
                    [
                        "trace.synthetic.requests=24", "trace.synthetic.output_tokens.median=400",
                        "trace.synthetic.output_tokens.max=2000",
                        "trace.synthetic.output_tokens.min=\(k == 2 ? 0 : 1)",
                        "trace.synthetic.output_tokens.sigma=\(k == 2 ? 4 : 0.7)",
                        "tiers.small.kv_capacity_tokens=4000", "tiers.large.kv_capacity_tokens=3000"
                    ]
                        // k = 1: llama.cpp's per-slot caches (beam branches copy the context).
                        + (k == 1 ? ["tiers.small.prefix_cache=per_slot", "tiers.large.prefix_cache=per_slot"] : []))
                let trace = try Simulation.loadTrace(sc)
                let r = try Simulation.run(sc, trace: trace, checkingInvariants: true)
                let o = r.outcome
                assertOutputInvariants(r, policy)
                XCTAssertEqual(o.stalledRequests, 0, policy)
                XCTAssertFalse(o.kvOverflow, "\(policy) k=\(k)")
                for q in o.requests where !q.failed {
                    XCTAssertEqual(q.outputTokens, trace.outputTokens(q.traceIndex), policy)
                }
                pressure += o.tiers.reduce(0) { $0 + $1.preemptions + $1.evictions }
            }
        }
        XCTAssertGreaterThan(pressure, 0)
    }

    /// Lazy decode accounting (HybridSimulator+Decode.swift) changes the cost, not the result: every
    /// random scenario and every policy gives the same outcome, event for event and to the last
    /// bit, with decoding sequences counted lazily and eagerly, and the lazy sets check themselves
    /// after every event.
    func testLazyDecodingMatchesEager() throws {
        var scenarios: [Scenario] = []
        for k in 0..<40 { scenarios.append(try randomScenario(k)) }
        for (p, policy) in [
            "name: speculative, draft_tokens: 5, acceptance: 0.6",
            "name: specs, acceptance_from: rate, reward_tier: large, beam_width: 4, step_tokens: 24, acceptance: 0.5",
            "name: specs, acceptance_from: rate, reward_tier: large, beam_width: 2, step_tokens: 5000",
            "name: llm-modules, variant: per_token", "name: route, route_threshold: 0.4"
        ].enumerated() {
            for k in 0..<2 {
                scenarios.append(
                    try randomScenario(
                        200 + 10 * p + k, policy: policy,
                        [
                            "trace.synthetic.requests=24", "trace.synthetic.output_tokens.median=400",
                            "tiers.small.kv_capacity_tokens=4000", "tiers.large.kv_capacity_tokens=3000"
                        ]
                            + (k == 1 ? ["tiers.small.prefix_cache=per_slot", "tiers.large.prefix_cache=per_slot"] : [])
                    ))
            }
        }
        var lazyRuns = 0
        for (k, sc) in scenarios.enumerated() {
            let trace = try Simulation.loadTrace(sc)
            let eager = HybridSimulator(scenario: sc, trace: trace)
            eager.decodesLazily = false
            let a = try eager.run()
            let lazy = Simulator<VLLMScheduler>(scenario: sc, trace: trace)
            lazy.checksInvariants = true
            let b = try lazy.run()
            XCTAssertEqual(a.events, b.events, "scenario \(k)")
            XCTAssertEqual(a.endTime, b.endTime, "scenario \(k)")
            XCTAssertEqual("\(a.requests)", "\(b.requests)", "scenario \(k): request outcomes")
            XCTAssertEqual("\(a.tiers)", "\(b.tiers)", "scenario \(k): tier outcomes")
            if lazy.replicas.contains(where: { $0.epoch > 0 }) { lazyRuns += 1 }
        }
        XCTAssertGreaterThan(lazyRuns, scenarios.count / 2, "most scenarios should decode lazily")
    }

    /// Admission allocates the prefill of what it admits in the same pass (vLLM's block manager
    /// allocates a prompt's blocks when it admits it), so one pass never admits more than fits.
    ///
    /// Hand count: KV capacity 1,000 (watermark 10); ten requests of 300 prompt + 50 output tokens
    /// end at 349 KV tokens each. Two fit together (698), three do not (1,047). The first is
    /// admitted alone; at its first decode the next two are admitted (301 + 10 ≤ 700, then
    /// 311 ≤ 400; the fourth does not fit in the 100 left), and when the three have grown to 1,000
    /// the newest is preempted. Each later group of admissions repeats that at most once, and at
    /// most ⌈10 / 3⌉ = 4 groups form: at most 4 preemptions. The scheduler that checked each
    /// admission against the same free memory without allocating admitted all ten at once and
    /// preempted 22 times (sequences that had been given no memory yet among them).
    func testAdmissionAllocatesWhatItAdmits() throws {
        let dir = tempDir()
        let path = dir + "/t.jsonl"
        let lines = (1...10).map { #"{"id":"r\#($0)","prompt_tokens":300,"output_tokens":50}"# }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let sc = try scenario(
            handComputableScenarioYAML(trace: path, policy: "name: small-only"),
            ["traffic={arrival: closed_loop, concurrency: 10}", "tiers.small.kv_capacity_tokens=1000"])
        let o = try Simulation.run(sc, checkingInvariants: true).outcome
        XCTAssertEqual(o.requests.filter(\.failed).count, 0)
        for q in o.requests { XCTAssertEqual(q.outputTokens, 50) }
        XCTAssertFalse(o.kvOverflow)
        XCTAssertEqual(o.tiers[0].peakKVTokens, 1000)
        XCTAssertGreaterThanOrEqual(o.tiers[0].preemptions, 1)
        XCTAssertLessThanOrEqual(o.tiers[0].preemptions, 4)
    }

    /// Sequences coming back to a tier wait while holding their cached prefix. Before waiting
    /// prefixes became evictable, that KV could fill an idle replica whose queue head needed more:
    /// nothing ran, nothing woke it, and requests stalled forever (found in an overloaded
    /// splitreason-a6000 sweep: 980 of 1,000 requests never finished).
    func testPlanEvictsCachedPrefixesOfWaitingSequences() throws {
        let sc = try ScenarioLoader.load(path: nil, overrides: ["tiers.large.kv_capacity_tokens=1000"])
        let sim = Simulator<VLLMScheduler>(scenario: sc, trace: try Simulation.loadTrace(sc))
        let r = sim.tierFirstReplica[TierID(1)]
        sim.seqs = Slab(capacity: 3)
        sim.lane = Slab(capacity: 3)
        for k in 0..<3 {
            var q = SequenceState(request: RequestID(0), role: RoleID(1), replica: r)
            q.kv = 300
            q.pendingPrefill = k == 0 ? 300 : 100
            q.decodeLeft = 10
            sim.seqs.append(q)
            sim.lane.append(Simulator<VLLMScheduler>.laneNone)
            sim.replicas[r].kvUsed += 300
            sim.replicas[r].enqueue(SequenceID(k), in: sim.seqs.view)
        }
        // Free: 100. The head needs 301: the last in the queue gives up its 300-token prefix.
        VLLMScheduler.plan(sim, replica: r)
        XCTAssertTrue(sim.replicas[r].busy)
        XCTAssertEqual(sim.replicas[r].active.first, SequenceID(0))
        XCTAssertEqual(sim.seqs[SequenceID(2)].kv, 0)
        XCTAssertEqual(sim.seqs[SequenceID(2)].pendingPrefill, 400)
        XCTAssertEqual(sim.seqs[SequenceID(1)].kv, 300)
        XCTAssertEqual(sim.replicas[r].evictions, 1)
    }

    /// splitreason-a6000 at threshold 0 (pipelined, every segment on the large tier): a sequence
    /// between two of its own segments was evicted as idle while another finished request freed
    /// memory, and 4 of 200 requests never finished.
    func testNoStallWhenTheActiveSequenceIsBetweenSegments() throws {
        let sc = try ScenarioLoader.load(
            path: packageRoot + "/Scenarios/splitreason-a6000.yaml", overrides: ["policy.offload_threshold=0"])
        let o = try Simulation.run(sc).outcome
        XCTAssertEqual(o.stalledRequests, 0)
        XCTAssertEqual(o.requests.filter(\.failed).count, 0)
        XCTAssertFalse(o.kvOverflow)
    }

    func testDeterminism() throws {
        for k in [3, 17] {
            let a = JSONWriter.write(try Simulation.run(try randomScenario(k)).summary)
            let b = JSONWriter.write(try Simulation.run(try randomScenario(k)).summary)
            XCTAssertEqual(a, b)
        }
        let d1 = JSONWriter.write(try Simulation.run(try ScenarioLoader.load(path: nil)).summary)
        let d2 = JSONWriter.write(try Simulation.run(try ScenarioLoader.load(path: nil)).summary)
        XCTAssertEqual(d1, d2)
        let d3 = JSONWriter.write(
            try Simulation.run(try ScenarioLoader.load(path: nil, overrides: ["seed=43"])).summary)
        XCTAssertNotEqual(d1, d3)
    }

    /// Accuracy: small-only predicts the small labels' mean, large-only the large labels'.
    func testAccuracyEndpoints() throws {
        let small = try Simulation.run(try ScenarioLoader.load(path: nil, overrides: ["policy.name=small-only"]))
        let large = try Simulation.run(try ScenarioLoader.load(path: nil, overrides: ["policy.name=large-only"]))
        let split = try Simulation.run(try ScenarioLoader.load(path: nil))
        XCTAssertEqual(small.accuracy!.predicted, small.accuracy!.smallOnly, accuracy: 1e-12)
        XCTAssertEqual(large.accuracy!.predicted, large.accuracy!.largeOnly, accuracy: 1e-12)
        XCTAssertGreaterThan(split.accuracy!.predicted, small.accuracy!.predicted)
        XCTAssertLessThan(split.accuracy!.predicted, large.accuracy!.predicted)
        XCTAssertLessThan(split.accuracy!.ci95.0, split.accuracy!.predicted)
        XCTAssertGreaterThan(split.accuracy!.ci95.1, split.accuracy!.predicted)
    }

    /// The promises of docs/output.md on one result: every number finite, latencies ≥ 0 with
    /// ordered percentiles, TTFT ≤ E2EL and TPOT ≥ 0 for every request (requests.csv included),
    /// and every tier in every per-tier table.
    func assertOutputInvariants(
        _ r: SimulationResult, _ label: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        SummaryCheck.walk(r.summary, "") { key, x in
            XCTAssertTrue(x.isFinite, "\(label): \(key) = \(x)", file: file, line: line)
        }
        for k in ["ttft", "tpot", "e2el"] {
            let p = r.summary["latency_ms"]?[k]
            let qs = ["mean", "p50", "p90", "p95", "p99"].compactMap {
                p?[$0].flatMap {
                    if case .number(let x) = $0 { return x }
                    return nil
                }
            }
            XCTAssertEqual(qs.count, 5, "\(label): latency_ms.\(k)", file: file, line: line)
            XCTAssertTrue(qs.allSatisfy { $0 >= 0 }, "\(label): latency_ms.\(k) \(qs)", file: file, line: line)
            XCTAssertTrue(
                zip(qs.dropFirst(), qs.dropFirst(2)).allSatisfy { $0 <= $1 * (1 + 1e-12) },
                "\(label): latency_ms.\(k) \(qs)", file: file, line: line)
        }
        for q in r.outcome.requests {
            XCTAssertTrue(
                q.ttftS >= 0 && q.e2elS >= q.ttftS - 1e-12 && q.tpotS >= -1e-12,
                "\(label): request \(q.id) ttft \(q.ttftS) e2el \(q.e2elS)", file: file, line: line)
        }
        let csv = SimulationOutput.requestsCSV(r).split(separator: "\n").dropFirst()
        for row in csv {
            let c = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard let ttft = Double(c[2]), let tpot = Double(c[3]), let e2el = Double(c[4]) else {
                XCTFail("\(label): \(row)", file: file, line: line)
                continue
            }
            XCTAssertTrue(
                ttft >= 0 && tpot >= -1e-9 && e2el >= ttft - 1e-9, "\(label): requests.csv \(row)", file: file,
                line: line)
        }
        for table in ["memory_gib", "utilization", "preemptions"] {
            for t in r.scenario.tiers {
                XCTAssertNotNil(r.summary[table]?[t.name], "\(label): \(table).\(t.name)", file: file, line: line)
            }
        }
        for t in r.scenario.tiers {
            XCTAssertNotNil(
                r.summary["cost_usd"]?["by_tier"]?[t.name], "\(label): cost_usd.by_tier.\(t.name)", file: file,
                line: line)
        }
    }
}
