import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// The closed-loop model and its fit against hand-computed values (docs/closed-loop.md).
final class ClosedLoopTests: XCTestCase {
    /// One request of 10 tokens, crossing τ = 0.5 at position 2 only; the large model alone wrote 20.
    func oneRequest(large: Int = 20, small: Bool = false, largeCorrect: Bool = true) -> Trace {
        var q = TraceRequest(id: "a", promptTokens: 5, smallCorrect: small, largeCorrect: largeCorrect)
        q.largeOutputTokens = large
        return Trace(requests: [q], offsets: [0, 10], difficulty: DifficultyColumn([0, 0, 0.9, 0, 0, 0, 0, 0, 0, 0]))
    }

    func testTrajectoryByHand() {
        let t = oneRequest()
        // q(0.5) = 1/10; κ = 2 gives q' = 0.2, E[K] = 0.8/0.2 = 4, ω = 4/(4 + 4) = 0.5 with L = 4.
        XCTAssertEqual(ClosedLoopModel.crossingRate(trace: t, threshold: 0.5), 0.1, accuracy: 1e-12)
        let m = ClosedLoopModel(crossingFactor: 2, lengthResponse: 1, accuracyExponent: 2, maxTokens: 256)
        let tr = m.trajectory(trace: t, request: 0, threshold: 0.5, segment: 4, rate: 0.1)
        XCTAssertEqual(tr.prefix, 2)
        XCTAssertTrue(tr.crosses)
        XCTAssertEqual(tr.smallRun, 4, accuracy: 1e-9)
        // n_h = c + λ((1 − ω)(n_s − c) + ω(n_l − c)) = 2 + 0.5·8 + 0.5·18 = 15.
        XCTAssertEqual(tr.outputTokens, 15, accuracy: 1e-9)
        // The first crossing starts a segment: min(13, 4) + ω(13 − 4) = 8.5 large tokens, a share of 8.5/13.
        XCTAssertEqual(tr.largeTokens, 8.5, accuracy: 1e-9)
        XCTAssertEqual(tr.mixShare, 8.5 / 13, accuracy: 1e-12)
        XCTAssertEqual(tr.largeCalls, 3)  // ⌈8.5 / 4⌉
        XCTAssertEqual(tr.handoffs, 6 - 8.5 / 13, accuracy: 1e-9)  // 2·3 − ω_r
        // p = s + (l − s)·ω_r^γ = (8.5/13)².
        XCTAssertEqual(m.pCorrect(small: false, large: true, tr), (8.5 / 13) * (8.5 / 13), accuracy: 1e-12)
        // The cap binds: n_h = min(cap, …).
        var capped = m
        capped.maxTokens = 12
        XCTAssertEqual(
            capped.trajectory(trace: t, request: 0, threshold: 0.5, segment: 4, rate: 0.1).outputTokens, 12,
            accuracy: 1e-9)
        // A sampled stream: the 2 trace tokens, then a large segment of 4 (1), then small runs (0)
        // and large segments up to n_h = 15 tokens.
        let st = m.stream(trace: t, request: 0, segment: 4, tr, rng: RandomStream(seed: 7))
        XCTAssertEqual(st.count, 15)
        XCTAssertEqual(Array(st.prefix(6)), [0, 0, 1, 1, 1, 1])
        XCTAssert(st.allSatisfy { $0 == 0 || $0 == 1 })
    }

    /// The sampled small runs follow the geometric law: mean E[K] = (1 − q′)/q′ = 4 and variance
    /// E[K](1 + E[K]) = 20 at q′ = 0.2, so the large share after the crossing is ω = 4/(4 + 4) = 0.5;
    /// over about 25,000 runs the standard error of the mean run is √20/158 ≈ 0.03.
    func testSampledRunsAreGeometric() {
        let t = oneRequest()
        let m = ClosedLoopModel(crossingFactor: 2, lengthResponse: 1, accuracyExponent: 2, maxTokens: 256)
        var tr = m.trajectory(trace: t, request: 0, threshold: 0.5, segment: 4, rate: 0.1)
        tr.outputTokens = 200_000
        let st = m.stream(trace: t, request: 0, segment: 4, tr, rng: RandomStream(seed: 11))
        let runs = TrajectorySpread.runs(Array(st.dropFirst(2)), threshold: 0.5, segment: 4)
        let small = runs.filter { !$0.large }.dropLast().map { Double($0.count) }
        XCTAssertGreaterThan(small.count, 20_000)
        XCTAssertEqual(Statistics.mean(small), 4, accuracy: 0.1)
        let mean = Statistics.mean(small)
        XCTAssertEqual(small.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(small.count - 1), 20, accuracy: 1.5)
        XCTAssertEqual(Double(st.filter { $0 == 1 }.count) / Double(st.count - 2), 0.5, accuracy: 0.01)
        // Two seeds, two streams; one seed, one stream.
        XCTAssertEqual(st, m.stream(trace: t, request: 0, segment: 4, tr, rng: RandomStream(seed: 11)))
        XCTAssertNotEqual(st, m.stream(trace: t, request: 0, segment: 4, tr, rng: RandomStream(seed: 12)))
    }

    /// The spread of trajectories by hand, in both conventions: a live stream (trigger token above τ,
    /// then 1s) and a sampled one (segments of 1s, back to back when a small run is 0 tokens long).
    func testTrajectorySpreadByHand() {
        let live: [Float] = [0.1, 0.6, 1, 1, 1, 0.2, 0.1, 0.7, 1, 1, 1, 0.3]
        let sampled: [Float] = [0.1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
        let never: [Float] = [0.1, 0.2]
        XCTAssertEqual(
            TrajectorySpread.runs(Array(live.dropFirst()), threshold: 0.5, segment: 4).map(\.count), [4, 2, 4, 1])
        XCTAssertEqual(
            TrajectorySpread.runs(Array(sampled.dropFirst()), threshold: 0.5, segment: 4).map(\.count),
            [4, 2, 4, 0, 4, 1])
        let a = TrajectorySpread(streams: [live, never], threshold: 0.5, segment: 4)
        XCTAssertEqual(a.requests, 2)
        XCTAssertEqual(a.crossed, 1)
        XCTAssertEqual(a.share[1], 8.0 / 11, accuracy: 1e-12)
        XCTAssertEqual(a.runs, 1)  // the last run of 1 is cut off by the end: censored
        XCTAssertEqual(a.runMean, 2)
        XCTAssertEqual(a.crossingRate, 1.0 / 4, accuracy: 1e-12)  // 1 crossing after the first, 3 small tokens
        XCTAssertEqual(a.segmentMean, 4)
        XCTAssertEqual(a.firstCrossingP50, 1.0 / 12, accuracy: 1e-12)
        let b = TrajectorySpread(streams: [sampled], threshold: 0.5, segment: 4)
        XCTAssertEqual(b.share[1], 12.0 / 15, accuracy: 1e-12)
        XCTAssertEqual(b.runs, 2)
        XCTAssertEqual(b.runMean, 1)
        XCTAssertEqual(b.shortRuns, 0.5)  // the run of 0
        XCTAssertEqual(b.crossingRate, 2.0 / 5, accuracy: 1e-12)
    }

    func testNoCrossingStaysSmallOnly() {
        let t = oneRequest(small: true, largeCorrect: false)
        let m = ClosedLoopModel(crossingFactor: 50)
        let tr = m.trajectory(trace: t, request: 0, threshold: 0.95, segment: 16, rate: 0)
        XCTAssertFalse(tr.crosses)
        XCTAssertEqual(tr.outputTokens, 10)
        XCTAssertEqual(tr.largeTokens, 0)
        XCTAssertEqual(tr.handoffs, 0)
        XCTAssertEqual(m.pCorrect(small: true, large: false, tr), 1)
        XCTAssertEqual(m.stream(trace: t, request: 0, segment: 16, tr, rng: RandomStream(seed: 1)).count, 10)
    }

    func testPoissonBinomialInterval() {
        // Binomial(4, 1/2): P(0) = 1/16 ≥ 2.5%, P(≤ 3) = 15/16 < 97.5%: the interval is [0, 1].
        let a = ClosedLoopPrediction.poissonBinomialInterval([0.5, 0.5, 0.5, 0.5], level: 0.95)
        XCTAssertEqual(a.0, 0)
        XCTAssertEqual(a.1, 1)
        // Certain outcomes: a point.
        let b = ClosedLoopPrediction.poissonBinomialInterval([1, 1, 0, 0], level: 0.95)
        XCTAssertEqual(b.0, 0.5)
        XCTAssertEqual(b.1, 0.5)
        // 40 requests at p = 0.5: Binomial(40, 1/2) has P(≤ 13) = 0.0192, P(≤ 14) = 0.0403, P(≤ 25) = 0.9597,
        // P(≤ 26) = 0.9808: the interval is [14/40, 26/40].
        let c = ClosedLoopPrediction.poissonBinomialInterval([Double](repeating: 0.5, count: 40), level: 0.95)
        XCTAssertEqual(c.0, 14.0 / 40)
        XCTAssertEqual(c.1, 26.0 / 40)
    }

    /// Observations made by a known model are fitted back to it.
    func testFitRecoversTheModel() throws {
        // 40 requests of 100 tokens: one token at 0.9 (position r), four at 0.6 (50, 60, 70, 80), the
        // rest 0.1. So q(0.7) = 1/100 and q(0.5) = 5/100.
        var reqs: [TraceRequest] = []
        var d: [Float] = []
        var offsets = [0]
        for r in 0..<40 {
            var q = TraceRequest(id: "r\(r)", promptTokens: 10, smallCorrect: false, largeCorrect: true)
            q.largeOutputTokens = 120 + r
            reqs.append(q)
            for i in 0..<100 { d.append(i == r ? 0.9 : [50, 60, 70, 80].contains(i) ? 0.6 : 0.1) }
            offsets.append(d.count)
        }
        let trace = Trace(requests: reqs, offsets: offsets, difficulty: DifficultyColumn(d))
        XCTAssertEqual(ClosedLoopModel.crossingRate(trace: trace, threshold: 0.5), 0.05, accuracy: 1e-12)
        var truth = ClosedLoopModel(crossingFactor: 3, lengthResponse: 1.3, accuracyExponent: 1, maxTokens: 10_000)
        truth.crossingFloor = 0.02  // q′(0.7) = 0.05, q′(0.5) = 0.17
        // Observations drawn from the truth's sampled streams, 5 per request: each run sees about
        // 200 (τ = 0.7) and 350 (τ = 0.5) crossings after the first per draw set, so q̂′ is within about
        // 7% and 5% (1σ): κ within ±0.13 and ε within ±0.003 (1σ); the bounds are 3σ.
        var runs: [ClosedLoopFit.Run] = []
        for tau in [0.7, 0.5] {
            let q = ClosedLoopModel.crossingRate(trace: trace, threshold: tau)
            runs.append(
                .init(
                    threshold: tau, segment: 8,
                    observations: (0..<200).map { k in
                        let r = k % 40
                        let t = truth.trajectory(trace: trace, request: r, threshold: tau, segment: 8, rate: q)
                        let st = truth.stream(
                            trace: trace, request: r, segment: 8, t, rng: RandomStream(seed: 5, name: "\(tau)-\(k)"))
                        return .init(
                            request: r, outputTokens: st.count, largeTokens: st.filter { $0 == 1 }.count, correct: nil)
                    }))
        }
        let fit = try ClosedLoopFit.fit(trace: trace, runs: runs, maxTokens: 10_000)
        XCTAssertEqual(fit.crossingFactor, 3, accuracy: 0.4)
        XCTAssertEqual(fit.crossingFloor, 0.02, accuracy: 0.009)
        XCTAssertEqual(fit.lengthResponse, 1.3, accuracy: 0.02)
        XCTAssertEqual(fit.accuracyExponent, 1, "no outcomes: γ stays 1")
        // One run: the floor is not identifiable, κ alone is fitted (q̂′/q).
        let one = try ClosedLoopFit.fit(trace: trace, runs: [runs[0]], maxTokens: 10_000)
        XCTAssertEqual(one.crossingFloor, 0)
        XCTAssertEqual(one.crossingFactor, 5, accuracy: 1)  // 0.05 / 0.01, ±3σ
        // Held-out prompts never enter the fit: corrupting their observations changes nothing.
        var split: [TraceRequest] = reqs
        for r in stride(from: 3, to: 40, by: 4) { split[r].heldOut = true }
        let splitTrace = Trace(requests: split, offsets: offsets, difficulty: DifficultyColumn(d))
        var corrupted = runs
        for k in corrupted.indices {
            for j in corrupted[k].observations.indices where split[corrupted[k].observations[j].request].heldOut {
                corrupted[k].observations[j].largeTokens = 0
                corrupted[k].observations[j].outputTokens *= 3
            }
        }
        XCTAssertEqual(
            try ClosedLoopFit.fit(trace: splitTrace, runs: corrupted, maxTokens: 10_000).crossingFactor,
            try ClosedLoopFit.fit(trace: splitTrace, runs: runs, maxTokens: 10_000).crossingFactor)
        XCTAssertEqual(
            try ClosedLoopFit.fit(trace: splitTrace, runs: corrupted, maxTokens: 10_000).lengthResponse,
            try ClosedLoopFit.fit(trace: splitTrace, runs: runs, maxTokens: 10_000).lengthResponse)
    }

    /// γ's maximum-likelihood estimate: every informative request has the same share ω_r, so
    /// p̂ = ω_r^γ = the share correct, γ = ln(3/4) / ln ω_r.
    func testAccuracyExponentIsTheMaximumLikelihood() throws {
        var reqs: [TraceRequest] = []
        var d: [Float] = []
        var offsets = [0]
        for r in 0..<4 {
            var q = TraceRequest(id: "r\(r)", promptTokens: 10, smallCorrect: false, largeCorrect: true)
            q.largeOutputTokens = 10
            reqs.append(q)
            d += [0.9, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            offsets.append(d.count)
        }
        let trace = Trace(requests: reqs, offsets: offsets, difficulty: DifficultyColumn(d))
        // q(0.5) = 0.1; every request crosses at 0, produces 10 tokens of which 5 large: ω̂ = 0.5.
        let obs = (0..<4).map {
            ClosedLoopFit.Observation(request: $0, outputTokens: 10, largeTokens: 5, correct: $0 < 3)
        }
        let fit = try ClosedLoopFit.fit(
            trace: trace, runs: [.init(threshold: 0.5, segment: 4, observations: obs)], maxTokens: 256)
        // q̂′ = (⌈5/4⌉ − 1) crossing / (1 + 5 small tokens) = 1/6: κ = 5/3, E[K] = 5, ω = 4/(4 + 5); the
        // request's share starts with a whole segment: (4 + 6 · 4/9)/10 = 2/3.
        XCTAssertEqual(fit.crossingFactor, 5.0 / 3, accuracy: 1e-9)
        let t = fit.trajectory(trace: trace, request: 0, threshold: 0.5, segment: 4, rate: 0.1)
        XCTAssertEqual(t.mixShare, 2.0 / 3, accuracy: 1e-9)
        XCTAssertEqual(fit.accuracyExponent, log(0.75) / log(2.0 / 3), accuracy: 0.01)
    }

    /// A scenario that references a model file simulates the trajectories the model predicts: the
    /// simulated output and offload follow the implied streams, and the accuracy is the model's.
    func testScenarioWithAClosedLoopModel() throws {
        let file = tempDir() + "/cl.yaml"
        var m = ClosedLoopModel(
            crossingFactor: 3, lengthResponse: 1.1, accuracyExponent: 0.5, maxTokens: 256, fittedOn: "test")
        m.crossingFloor = 0.004
        try ClosedLoopReport.modelYAML(m).write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ClosedLoopModel.load(path: file), m, "the file round-trips")
        let sc = try ScenarioLoader.load(
            path: packageRoot + "/Scenarios/qwen-local.yaml", overrides: ["policy.closed_loop=\(file)"])
        let trace = try Simulation.loadTrace(sc)
        let result = try Simulation.run(sc, trace: trace, checkingInvariants: true)
        let p = ClosedLoopPrediction.make(
            m, trace: trace, requests: Array(0..<trace.count), threshold: 0.6, segment: 16)
        let streams = p.sampledStreams(m, trace: trace, requests: Array(0..<trace.count), segment: 16, seed: sc.seed)
        XCTAssertEqual(
            result.outcome.requests.reduce(0) { $0 + $1.outputTokens }, streams.difficulty.count,
            "output = the sampled streams")
        let sim = try XCTUnwrap(number(result.summary, "offload.token_fraction"))
        XCTAssertEqual(
            sim, p.offloadTokenFraction, accuracy: 0.1 * p.offloadTokenFraction, "offload within the streams' rounding")
        let unit = tempDir() + "/unit.yaml"
        try ClosedLoopReport.modelYAML(ClosedLoopModel(maxTokens: 256)).write(
            toFile: unit, atomically: true, encoding: .utf8)
        let plain = try Simulation.run(
            try ScenarioLoader.load(
                path: packageRoot + "/Scenarios/qwen-local.yaml", overrides: ["policy.closed_loop=\(unit)"]))
        XCTAssertGreaterThan(
            sim, try XCTUnwrap(number(plain.summary, "offload.token_fraction")), "κ = 3 offloads more than κ = 1")
        XCTAssertEqual(try XCTUnwrap(result.accuracy).predicted, try XCTUnwrap(p.accuracy), accuracy: 1e-12)
        // Pipelined mode has no live closed loop to model.
        XCTAssertThrowsError(
            try ScenarioLoader.load(
                path: packageRoot + "/Scenarios/qwen-local.yaml",
                overrides: ["policy.closed_loop=\(file)", "policy.mode=pipelined"]))
    }

    /// The speed probe's law figure is one batch-1 iteration reading context + tokens/2 tokens.
    func testSpeedProbeLawByHand() throws {
        let sc = try ScenarioLoader.load(path: packageRoot + "/Scenarios/qwen-local.yaml")
        let t = sc.tiers[try XCTUnwrap(sc.tierIndex("small"))]
        let law = LatencyModel(
            spec: .linear(
                fixedMs: 30, prefillMsPerToken: 7, decodeMsPerSeq: 0, msPerContextToken: 0.01,
                decodeMsByBatch: [0.5, 80]),
            model: t.model, gpu: t.gpu, tensorParallel: 1)
        var p = SpeedProbe()
        p.context = 32
        p.tokens = 64
        // 30 + 0.5 (B = 1) + 0.01 · (32 + 64/2)
        XCTAssertEqual(p.lawMs(law), 31.14, accuracy: 1e-9)
        XCTAssertEqual(SpeedProbe.Reading(measuredMs: 24.9, lawMs: 31.14).ratio, 24.9 / 31.14, accuracy: 1e-12)
    }

    /// speed.jsonl: the last line per cell and tier wins, and a line cut short is skipped.
    func testSpeedLogRoundTrip() throws {
        let path = tempDir() + "/speed.jsonl"
        XCTAssertTrue(try SpeedLog.read(path).isEmpty, "no file, no readings")
        try SpeedLog.append(path, cell: "c1-t0.5", tier: "small", reading: .init(measuredMs: 30, lawMs: 25))
        try SpeedLog.append(path, cell: "c1-t0.5", tier: "large", reading: .init(measuredMs: 45, lawMs: 50))
        try SpeedLog.append(path, cell: "c1-t0.5", tier: "small", reading: .init(measuredMs: 26, lawMs: 25))
        try (String(contentsOfFile: path, encoding: .utf8) + "{\"cell\":\"c4-t0.5\",\"tier\":\"sm").write(
            toFile: path, atomically: true, encoding: .utf8)
        let r = try SpeedLog.read(path)
        XCTAssertEqual(Set(r.keys), ["c1-t0.5"])
        XCTAssertEqual(r["c1-t0.5"]?["small"], .init(measuredMs: 26, lawMs: 25))
        XCTAssertEqual(r["c1-t0.5"]?["large"]?.ratio, 0.9)
    }

    /// A scaled law gives r times every iteration's time, whatever the load.
    func testScaledLatencyLaw() throws {
        let sc = try ScenarioLoader.load(path: packageRoot + "/Scenarios/qwen-local.yaml")
        let t = sc.tiers[0]
        var load = IterationLoad()
        load.prefillTokens = 40
        load.prefillAttention = 900
        load.decodeSeqs = 3
        load.decodeContext = 700
        for spec in [t.latency, .roofline(mfu: 0.5, mbu: 0.7, overheadMs: 2)] {
            let base = LatencyModel(spec: spec, model: t.model, gpu: t.gpu, tensorParallel: 1).seconds(load)
            let slow = LatencyModel(spec: spec.scaled(by: 1.25), model: t.model, gpu: t.gpu, tensorParallel: 1).seconds(
                load)
            XCTAssertEqual(slow, 1.25 * base, accuracy: 1e-12 * base)
        }
        load.prefillTokens = 3  // the measured small-batch table
        let base = LatencyModel(spec: t.latency, model: t.model, gpu: t.gpu, tensorParallel: 1).seconds(load)
        XCTAssertEqual(
            LatencyModel(spec: t.latency.scaled(by: 0.8), model: t.model, gpu: t.gpu, tensorParallel: 1).seconds(load),
            0.8 * base, accuracy: 1e-12)
    }
}
