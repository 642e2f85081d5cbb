import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Issue 26: a run that is not a result says so, a rate is honoured or refused, each accuracy says
/// where it comes from, and baselines are honest. Each test failed before the change.
final class StabilityTests: XCTestCase {
    func summary(_ overrides: [String]) throws -> SimulationSummary {
        try Simulation.run(try ScenarioLoader.load(path: nil, overrides: overrides)).typedSummary
    }

    /// The default deployment serves about 1.6 req/s. At 0.5 req/s it is steady; at 2 req/s its
    /// backlog grows (before: no flag, and `capacity` counted the plan as meeting the SLO there).
    func testOverloadIsFlagged() throws {
        let steady = try summary(["traffic.rate_rps=0.5", "trace.synthetic.requests=3000"])
        XCTAssertEqual(steady.stability.state, .steady, "\(steady.stability.reasons)")
        XCTAssertEqual(steady.stability.servedShare, 1, accuracy: 0.03)
        XCTAssertEqual(steady.stability.offeredRps, 0.5, accuracy: 0.05)
        let over = try summary(["traffic.rate_rps=2", "trace.synthetic.requests=3000"])
        XCTAssertEqual(over.stability.state, .overloaded)
        XCTAssertLessThan(over.stability.servedShare, 0.9)
        XCTAssertGreaterThan(over.stability.inSystemEnd, 2 * over.stability.inSystemStart)
        XCTAssertFalse(MetricConstraint.allMet([], by: over.json), "an overloaded run meets no constraint")
        let table = SimulationOutput.table(
            try Simulation.run(
                try ScenarioLoader.load(path: nil, overrides: ["traffic.rate_rps=2", "trace.synthetic.requests=3000"])))
        XCTAssertTrue(table.contains("WARNING: OVERLOADED"), table)
    }

    /// `capacity`'s headroom against Erlang C, from a 300- and a 3,000-request run: an M/M/c queue
    /// (the CapacityTests setup: exponential-like service of mean 1 s, one request per replica, a
    /// shared FIFO) sized for ttft.p90 ≤ 15 ms at 4 req/s. Before, a short run's headroom was
    /// whatever rate its few requests happened to pass; now runs double until the headroom moves
    /// by ≤ 5%, and both answers agree with each other and with Erlang C's knee within 5%.
    func testCapacityHeadroomSettlesAgainstErlangC() throws {
        let dir = tempDir()
        try writeGeometricTrace(to: dir + "/geo.jsonl")
        let lo = erlangCHeadroom(servers: 8, maxWaitProbability: 0.1)
        var headrooms: [Double] = []
        for n in [300, 3000] {
            try """
            seed: 5
            trace: {file: geo.jsonl}
            traffic: {arrival: poisson, rate_rps: 1, requests: \(n)}
            models:
              small: {name: DeepSeek-R1-Distill-Qwen-1.5B}
            tiers:
              small: {gpu: A100-SXM-80GB, max_num_seqs: 1, routing: shared_queue, latency: {kind: linear, fixed_ms: 0, prefill_ms_per_token: 0, decode_ms_per_seq: 10}}
            policy: {name: small-only}
            """.write(toFile: dir + "/mmc\(n).yaml", atomically: true, encoding: .utf8)
            let planner = try CapacityPlanner(
                family: try ScenarioFamily(path: dir + "/mmc\(n).yaml", overrides: []), rateRps: 4,
                slos: [try MetricConstraint.parse("latency_ms.ttft.p90<=15")])
            let r = try planner.run()
            XCTAssertEqual(r.plan?.replicas, [8])
            XCTAssertTrue(r.headroomSettled, "\(r.headroomByRequests)")
            let h = try XCTUnwrap(r.headroomRps)
            XCTAssertEqual(h, lo, accuracy: 0.05 * lo, "\(n) requests: \(r.headroomByRequests)")
            headrooms.append(h)
            print("capacity from \(n) requests: \(r.headroomByRequests), Erlang C \(lo)")
        }
        XCTAssertEqual(headrooms[0], headrooms[1], accuracy: 0.05 * headrooms[1])
    }

    /// A replayed trace honours `traffic.rate_rps` (before: silently ignored, so `capacity --rate
    /// 100/s` and `--rate 5.5/s` sized the same plan): the arrival times scale to the mean rate.
    func testReplayHonoursTheRate() throws {
        let dir = tempDir()
        var lines = ""
        var t = 0.0
        let rng = RandomStream(seed: 3, name: "gaps")
        for i in 0..<400 {
            lines += #"{"id":"q\#(i)","prompt_tokens":100,"output_tokens":50,"hard_spans":[],"arrival_s":\#(t)}"# + "\n"
            t += rng.exponential(mean: 0.5)
        }
        try lines.write(toFile: dir + "/replay.jsonl", atomically: true, encoding: .utf8)
        let base = ["trace={file: \(dir)/replay.jsonl}", "policy.name=small-only"]
        let recorded = try summary(base + ["traffic={arrival: replay}"])
        XCTAssertNil(recorded.stability.replayTimeScale)
        for rate in [1.0, 4.0] {
            let s = try summary(base + ["traffic={arrival: replay, rate_rps: \(rate)}"])
            XCTAssertEqual(s.stability.offeredRps, rate, accuracy: 1e-9 * rate)
            let k = try XCTUnwrap(s.stability.replayTimeScale)
            XCTAssertEqual(k, recorded.stability.offeredRps / rate, accuracy: 1e-9 * k)
        }
        // Under a closed loop the rate has no meaning: refused, not ignored.
        XCTAssertThrowsError(try summary(["traffic={arrival: closed_loop, rate_rps: 3}"])) { e in
            XCTAssertTrue("\(e)".contains("rate_rps has no effect under closed_loop"), "\(e)")
        }
        XCTAssertThrowsError(try summary(["traffic.cv=4"])) { e in
            XCTAssertTrue("\(e)".contains("cv applies to arrival: gamma only"), "\(e)")
        }
    }

    /// `single` reports the accuracy of the model it runs, and a policy bills only the tiers it
    /// can serve on (before: `single` on the large model reported the small model's accuracy, and
    /// `large-only` paid for the idle small tier).
    func testHonestBaselines() throws {
        let large = try summary(["policy.name=large-only"])
        XCTAssertEqual(large.costUsd.byTier["small"], 0)
        XCTAssertGreaterThan(large.costUsd.byTier["large"] ?? 0, 0)
        XCTAssertEqual(large.costUsd.total, large.costUsd.byTier["large"] ?? -1, accuracy: 1e-12)
        let kept = try summary(["policy.name=large-only", "tiers.small.provisioned=true"])
        XCTAssertGreaterThan(kept.costUsd.byTier["small"] ?? 0, 0)
        let small = try summary(["policy.name=small-only"])
        XCTAssertEqual(small.costUsd.byTier["large"], 0)

        let onLarge = try summary(["policy={name: single, tier: large}"])
        XCTAssertEqual(onLarge.accuracy.predicted, onLarge.accuracy.largeOnly)
        XCTAssertEqual(onLarge.accuracy.source, "synthetic")
        XCTAssertEqual(onLarge.offload.source, "policy")
        let onSmall = try summary(["policy={name: single, tier: small}"])
        XCTAssertEqual(onSmall.accuracy.predicted, onSmall.accuracy.smallOnly)
        XCTAssertEqual(try summary([]).accuracy.source, "synthetic")
    }

    /// Goodput and windows, by hand: 30 identical requests 10 s apart, each served alone in
    /// 1,717 ms (TuneTests' ramp at τ = 0.7: small 761 ms, 5 ms across, large 946 ms, 5 ms back).
    /// Under e2el_ms 1800 every request is good: goodput = 30 / duration; under 1700 none is.
    /// Windows of 100 s hold 10 requests each: three judged, each p99 = 1,717 ms.
    func testGoodputAndWindowsByHand() throws {
        let dir = tempDir()
        let ds = (1...100).map { JSONWriter.number(Double($0) / 100) }.joined(separator: ",")
        try (0..<30).map { #"{"id":"r\#($0)","prompt_tokens":10,"difficulty":[\#(ds)]}"# + "\n" }.joined().write(
            toFile: dir + "/ramp.jsonl", atomically: true, encoding: .utf8)
        let yaml = handComputableScenarioYAML(
            trace: dir + "/ramp.jsonl",
            policy: "name: splitreason, offload_threshold: 0.7, min_segment_tokens: 1, mode: sequential"
        ).replacingOccurrences(of: "rate_rps: 1}", with: "rate_rps: 0.1}")
        let good = try Simulation.run(try scenario(yaml, ["slo={e2el_ms: 1800, tpot_ms: 100, window_s: 100}"]))
            .typedSummary
        XCTAssertEqual(good.latencyMs.e2el.p99, 1717, accuracy: 1e-6)
        XCTAssertEqual(good.slo.goodShare, 1)
        XCTAssertEqual(good.slo.goodputRps!, 30 / good.durationS, accuracy: 1e-12)
        XCTAssertEqual(good.slo.tpotAttainment, 1)
        XCTAssertEqual(good.windows.count, 3)
        XCTAssertEqual(good.windows.judged, 3)
        XCTAssertEqual(good.windows.worstE2ELP99Ms, 1717, accuracy: 1e-6)
        XCTAssertEqual(good.stability.state, .steady)
        let bad = try Simulation.run(try scenario(yaml, ["slo={e2el_ms: 1700}"])).typedSummary
        XCTAssertEqual(bad.slo.goodputRps, 0)
        XCTAssertEqual(bad.windows.judged, 0, "windows of 60 s hold 6 requests: too few for a p99")
        XCTAssertEqual(bad.windows.worstE2ELP99Ms, bad.latencyMs.e2el.p99, "none judged: the run's own p99, not 0")
        let none = try Simulation.run(try scenario(yaml)).typedSummary
        XCTAssertNil(none.slo.goodputRps, "no bound set: no goodput")
    }

    /// An imported request log has no difficulty: a difficulty policy refuses it, a single-tier one
    /// simulates it with no accuracy (before: the generator's presets were attached silently and
    /// printed as a predicted accuracy with a confidence interval).
    func testImportedTrafficHasNoInventedAccuracy() throws {
        let rows = (0..<50).map {
            RequestImport.Row(line: $0 + 1, arrivalS: Double($0) * 2, promptTokens: 200, outputTokens: 100)
        }
        let bare = RequestImport.trace(rows, idPrefix: "az", synthetic: nil)
        XCTAssertEqual(bare.difficultySource, .none)
        let path = tempDir() + "/az.jsonl"
        try TraceJSONL.write(bare, to: path)
        XCTAssertEqual(try TraceReader.read(path: path).difficultySource, .none)
        XCTAssertThrowsError(try summary(["trace={file: \(path)}", "traffic={arrival: replay}"])) { e in
            XCTAssertTrue("\(e)".contains("--difficulty-from"), "\(e)")
        }
        let single = try summary(["trace={file: \(path)}", "traffic={arrival: replay}", "policy.name=small-only"])
        XCTAssertNil(single.accuracy.predicted)
        XCTAssertEqual(single.accuracy.source, "none")
        let invented = RequestImport.trace(rows, idPrefix: "az", synthetic: SyntheticTraceSpec())
        XCTAssertEqual(invented.difficultySource, .synthetic)
        let p2 = tempDir() + "/az-syn.jsonl"
        try TraceJSONL.write(invented, to: p2)
        let s = try summary(["trace={file: \(p2)}", "traffic={arrival: replay}"])
        XCTAssertEqual(s.accuracy.source, "synthetic")
        XCTAssertEqual(s.offload.source, "synthetic")
    }
}
