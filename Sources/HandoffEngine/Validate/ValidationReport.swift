import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// Measured against predicted for one validation run: the table `handoff validate` prints and
/// writes. Keys are stable (`docs/output.md`).
public struct ValidationReport: Sendable {
    public struct Row: Sendable {
        public var metric: String
        public var measured: Double
        public var predicted: Double
        public var errorPct: Double {
            measured == 0 ? (predicted == 0 ? 0 : .infinity) : (predicted - measured) / measured * 100
        }
    }

    public var policy: String
    public var concurrency: Int
    public var requests: Int
    public var rows: [Row]
    /// Median over requests of |predicted − measured| / measured, per-request E2EL and TTFT.
    public var e2elMedianAbsErrorPct: Double
    public var ttftMedianAbsErrorPct: Double
    /// The prediction from the recorded trace alone (before anything ran).
    public var recorded: [(String, Double)]
    public var accuracyMeasured: Double?
    public var perRequest: [(id: String, measuredMs: Double, predictedMs: Double)]
    /// Passes over the sample that the figures are medians of.
    public var repeats = 1

    /// Replays each pass's realised streams through the simulator and compares; with several
    /// passes every figure is the median over passes (measured and predicted separately), and
    /// per-request errors compare each request's median measured and median predicted latency.
    public static func make(_ v: Validator, _ samples: [MeasuredRequest]) throws -> ValidationReport {
        let groups = Dictionary(grouping: samples, by: \.repeat_).sorted { $0.key < $1.key }
        var reports: [ValidationReport] = []
        for g in groups { reports.append(try one(v, g.value)) }
        guard var out = reports.first else { throw HandoffError("no finished samples to report", exitCode: 1) }
        if reports.count == 1 { return out }
        out.repeats = reports.count
        out.rows = out.rows.indices.map { k in
            Row(
                metric: out.rows[k].metric, measured: Statistics.median(reports.map { $0.rows[k].measured }),
                predicted: Statistics.median(reports.map { $0.rows[k].predicted }))
        }
        var byID: [String: (m: [Double], p: [Double])] = [:]
        for r in reports {
            for q in r.perRequest {
                byID[q.id, default: ([], [])].m.append(q.measuredMs)
                byID[q.id, default: ([], [])].p.append(q.predictedMs)
            }
        }
        out.perRequest = out.perRequest.map { q in
            (q.id, Statistics.median(byID[q.id]!.m), Statistics.median(byID[q.id]!.p))
        }
        out.e2elMedianAbsErrorPct = Statistics.median(
            out.perRequest.map { abs($0.predictedMs - $0.measuredMs) / $0.measuredMs * 100 })
        out.ttftMedianAbsErrorPct = Statistics.median(reports.map(\.ttftMedianAbsErrorPct))
        let acc = reports.compactMap(\.accuracyMeasured)
        out.accuracyMeasured = acc.isEmpty ? nil : Statistics.mean(acc)
        out.spread = out.rows.map { r in
            let xs = reports.map { $0.rows.first(where: { $0.metric == r.metric })!.measured }
            return (r.metric, xs.min()!, xs.max()!)
        }
        return out
    }

    /// Measured range over passes, per metric (empty for one pass): how noisy the machine was.
    public var spread: [(String, Double, Double)] = []

    /// The client's time between one request's end and the next start on the same worker (the
    /// replay's think time): with c workers, the k-th start follows the (k − c)-th end; the median
    /// over a run, so that a resumed run's pause does not count. Without it a closed-loop replay
    /// would run its requests back to back where the client paused between them (the median gap was
    /// 0 on Reports/llamacpp-local; the mean is not used, since at concurrency > 1 the workers that
    /// finish first idle until the run ends).
    static func clientGapS(_ samples: [MeasuredRequest], _ epochOffset: [Int: Double], _ c: Int) -> Double {
        let starts = samples.map { $0.startS + epochOffset[$0.epoch]! }.sorted()
        let ends = samples.map { $0.startS + epochOffset[$0.epoch]! + $0.e2elS }.sorted()
        guard starts.count > c else { return 0 }
        let gaps = (c..<starts.count).map { max(0, starts[$0] - ends[$0 - c]) }
        return Statistics.median(gaps)
    }

    static func one(_ v: Validator, _ samples: [MeasuredRequest]) throws -> ValidationReport {
        precondition(!samples.isEmpty)
        let (epochOffset, t0) = epochOffsets(samples)
        let reqs = samples.map { m in
            let q = v.trace.requests[m.index]
            return TraceRequest(
                id: m.id, promptTokens: m.promptTokens, arrivalS: m.startS + epochOffset[m.epoch]! - t0,
                smallCorrect: q.smallCorrect, largeCorrect: q.largeCorrect)
        }
        let predicted = try replay(v, samples, reqs, clientGapS: Self.clientGapS(samples, epochOffset, v.concurrency))
        // The user's prediction: the scenario's own policy on the recorded trace, in a closed loop at
        // the run's concurrency, as the user would simulate it before running (replaying the
        // measured arrivals of other streams would not be a prediction).
        let recordedTrace = v.trace.subset(samples.map(\.index)) { k, q in
            q.arrivalS = reqs[k].arrivalS
            q.measured = nil
        }
        var s2 = v.scenario
        s2.traffic = TrafficSpec.closedLoop(concurrency: v.concurrency, requests: samples.count)
        let fromRecorded = try Simulation.run(s2, trace: recordedTrace)
        let mSpan = samples.map { $0.startS + epochOffset[$0.epoch]! + $0.e2elS }.max()! - t0
        return report(v, samples, predicted: predicted, measuredSpan: mSpan, fromRecorded: fromRecorded)
    }

    /// Arrival times: epochs (resumed runs) follow each other. Per epoch, the offset that places
    /// its start times on one clock; and the first start on that clock.
    static func epochOffsets(_ samples: [MeasuredRequest]) -> (offsets: [Int: Double], t0: Double) {
        var epochOffset: [Int: Double] = [:]
        var offset = 0.0
        for e in Set(samples.map(\.epoch)).sorted() {
            let inEpoch = samples.filter { $0.epoch == e }
            let first = inEpoch.map(\.startS).min()!
            epochOffset[e] = offset - first
            offset += inEpoch.map { $0.startS + $0.e2elS }.max()! - first
        }
        return (epochOffset, samples.map { $0.startS + epochOffset[$0.epoch]! }.min()!)
    }

    /// The replay: the realised streams in the order the run started them, through a closed loop
    /// at the run's concurrency, as the run's workers issued them; outcomes in sample order.
    /// Replaying the measured start times open-loop instead compounds the serving model's error: a
    /// simulated request that runs past the next measured start overlaps it on the server, which no
    /// worker did, and the overlap slows both (Reports/qwen-local at concurrency 1, τ 0.75:
    /// per-request error −6%, +11%, … +193% along the run, median 26%).
    static func replay(
        _ v: Validator, _ samples: [MeasuredRequest], _ reqs: [TraceRequest], clientGapS: Double
    ) throws -> [RequestOutcome] {
        let order = samples.indices.sorted { (reqs[$0].arrivalS ?? 0, $0) < (reqs[$1].arrivalS ?? 0, $1) }
        var streams = TraceBuilder()
        for k in order { streams.append(reqs[k], difficulty: samples[k].difficulty) }
        var s = v.scenario
        s.traffic = TrafficSpec.closedLoop(concurrency: v.concurrency, thinkTimeS: clientGapS, requests: samples.count)
        if let live = v.live { s.policy = live.replay }
        let sim = try Simulation.run(s, trace: streams.build())
        var bySample = [RequestOutcome?](repeating: nil, count: samples.count)
        for q in sim.outcome.requests { bySample[order[q.traceIndex]] = q }
        return bySample.map { $0! }
    }

    /// Measured against predicted, metric by metric.
    static func report(
        _ v: Validator, _ samples: [MeasuredRequest], predicted: [RequestOutcome], measuredSpan mSpan: Double,
        fromRecorded: SimulationResult
    ) -> ValidationReport {
        func q(_ xs: [Double], _ p: Double) -> Double { Statistics.quantile(sorted: xs.sorted(), p) }
        let mE2E = samples.map { $0.e2elS * 1000 }
        let pE2E = predicted.map { $0.e2elS * 1000 }
        let mTTFT = samples.map { $0.ttftS * 1000 }
        let pTTFT = predicted.map { $0.ttftS * 1000 }
        let mTPOT = samples.map { m in m.outputTokens > 1 ? (m.e2elS - m.ttftS) * 1000 / Double(m.outputTokens - 1) : 0
        }
        let pTPOT = predicted.map { $0.tpotS * 1000 }
        let pSpan = predicted.map { $0.arrivalS + $0.e2elS }.max()! - predicted.map(\.arrivalS).min()!
        let mTokens = Double(samples.reduce(0) { $0 + $1.outputTokens })
        let pTokens = Double(predicted.reduce(0) { $0 + $1.outputTokens })
        let mLarge = Double(samples.reduce(0) { $0 + $1.largeTokens })
        let pLarge = Double(predicted.reduce(0) { $0 + $1.offloadedTokens })
        var rows: [Row] = [
            Row(metric: "e2el_ms.p50", measured: q(mE2E, 0.5), predicted: q(pE2E, 0.5)),
            Row(metric: "e2el_ms.p95", measured: q(mE2E, 0.95), predicted: q(pE2E, 0.95)),
            Row(
                metric: "e2el_ms.mean", measured: mE2E.reduce(0, +) / Double(mE2E.count),
                predicted: pE2E.reduce(0, +) / Double(pE2E.count)),
            Row(metric: "ttft_ms.p50", measured: q(mTTFT, 0.5), predicted: q(pTTFT, 0.5)),
            Row(metric: "ttft_ms.p95", measured: q(mTTFT, 0.95), predicted: q(pTTFT, 0.95)),
            Row(metric: "tpot_ms.p50", measured: q(mTPOT, 0.5), predicted: q(pTPOT, 0.5)),
            Row(
                metric: "throughput_rps", measured: Double(samples.count) / mSpan,
                predicted: Double(predicted.count) / pSpan),
            Row(metric: "output_tokens_per_s", measured: mTokens / mSpan, predicted: pTokens / pSpan)
        ]
        // Offload shares, unless the run stays on the entry tier (role 0); alone on another tier,
        // every token is offloaded.
        if v.aloneTier != v.scenario.policy.roles[0] {
            let lf = v.aloneTier != nil
            rows.append(
                Row(
                    metric: "offload.token_fraction", measured: lf ? 1 : mLarge / max(1, mTokens),
                    predicted: lf ? 1 : pLarge / max(1, pTokens)))
            rows.append(
                Row(
                    metric: "handoffs.mean",
                    measured: Double(samples.reduce(0) { $0 + $1.handoffs }) / Double(samples.count),
                    predicted: Double(predicted.reduce(0) { $0 + $1.handoffs }) / Double(predicted.count)))
        }
        func medAbs(_ m: [Double], _ p: [Double]) -> Double {
            q(zip(m, p).map { abs($1 - $0) / max($0, 1e-9) * 100 }, 0.5)
        }
        let rec = fromRecorded.outcome.requests
        let recTokens = Double(rec.reduce(0) { $0 + $1.outputTokens })
        let recorded: [(String, Double)] = [
            ("offload.token_fraction", Double(rec.reduce(0) { $0 + $1.offloadedTokens }) / max(1, recTokens)),
            ("handoffs.mean", Double(rec.reduce(0) { $0 + $1.handoffs }) / Double(rec.count)),
            ("e2el_ms.p50", q(rec.map { $0.e2elS * 1000 }, 0.5))
        ]
        let judged = samples.compactMap(\.correct)
        return ValidationReport(
            policy: v.policyName, concurrency: v.concurrency, requests: samples.count, rows: rows,
            e2elMedianAbsErrorPct: medAbs(mE2E, pE2E), ttftMedianAbsErrorPct: medAbs(mTTFT, pTTFT),
            recorded: recorded,
            accuracyMeasured: judged.isEmpty ? nil : Double(judged.filter { $0 }.count) / Double(judged.count),
            perRequest: zip(samples, zip(mE2E, pE2E)).map { ($0.id, $1.0, $1.1) })
    }

    public var json: JSONValue {
        var metrics: [(String, JSONValue)] = rows.map { r in
            (
                r.metric,
                .object([
                    ("measured", .number(r.measured)), ("predicted", .number(r.predicted)),
                    ("error_pct", r.errorPct.isFinite ? .number(r.errorPct) : .null)
                ])
            )
        }
        metrics.append(("e2el_ms.per_request_median_abs_error_pct", .number(e2elMedianAbsErrorPct)))
        metrics.append(("ttft_ms.per_request_median_abs_error_pct", .number(ttftMedianAbsErrorPct)))
        var o: [(String, JSONValue)] = [
            ("policy", .string(policy)), ("concurrency", .number(Double(concurrency))),
            ("requests", .number(Double(requests))), ("repeats", .number(Double(repeats))),
            ("metrics", .object(metrics)),
            ("from_recorded_trace", .object(recorded.map { ($0.0, .number($0.1)) }))
        ]
        if let a = accuracyMeasured { o.append(("accuracy.measured", .number(a))) }
        if !spread.isEmpty {
            o.append(("measured_range_over_repeats", .object(spread.map { ($0.0, .numbers([$0.1, $0.2])) })))
        }
        return .object(o)
    }

    public var table: String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: abs(x) >= 100 ? "%.1f" : "%.4g", x) : "—" }
        var s =
            "validate \(policy), \(requests) requests, concurrency \(concurrency)\(repeats > 1 ? ", medians of \(repeats) passes" : "")\n"
        s +=
            "metric".padding(toLength: 26, withPad: " ", startingAt: 0) + "measured".leftPad(12)
            + "predicted".leftPad(12) + "error %".leftPad(10) + "\n"
        for r in rows {
            s +=
                r.metric.padding(toLength: 26, withPad: " ", startingAt: 0) + f(r.measured).leftPad(12)
                + f(r.predicted).leftPad(12)
                + (r.errorPct.isFinite ? String(format: "%+.1f", r.errorPct) : "—").leftPad(10) + "\n"
        }
        s += String(
            format: "per-request E2EL: median |error| %.1f%%; TTFT: %.1f%%\n", e2elMedianAbsErrorPct,
            ttftMedianAbsErrorPct)
        s += "from the recorded trace alone: " + recorded.map { "\($0.0) \(f($0.1))" }.joined(separator: ", ") + "\n"
        if let a = accuracyMeasured { s += String(format: "accuracy (answers checked): %.3f\n", a) }
        return s
    }

    public var markdown: String {
        func f(_ x: Double) -> String { x.isFinite ? String(format: abs(x) >= 100 ? "%.1f" : "%.4g", x) : "—" }
        var s =
            "## \(policy), concurrency \(concurrency), \(requests) requests\(repeats > 1 ? ", medians of \(repeats) passes" : "")\n\n"
        s +=
            "| metric | measured | predicted | error % |\(spread.isEmpty ? "" : " measured range over passes |")\n|---|---:|---:|---:|\(spread.isEmpty ? "" : "---:|")\n"
        for r in rows {
            s +=
                "| \(r.metric) | \(f(r.measured)) | \(f(r.predicted)) | \(r.errorPct.isFinite ? String(format: "%+.1f", r.errorPct) : "—") |"
            if let sp = spread.first(where: { $0.0 == r.metric }) { s += " \(f(sp.1))–\(f(sp.2)) |" }
            s += "\n"
        }
        s += String(
            format: "\nPer-request end-to-end latency: median |error| **%.1f%%** (TTFT %.1f%%).\n",
            e2elMedianAbsErrorPct, ttftMedianAbsErrorPct)
        s +=
            "From the recorded trace alone (the prediction before running): "
            + recorded.map { "\($0.0) = \(f($0.1))" }.joined(separator: ", ") + ".\n"
        if let a = accuracyMeasured { s += String(format: "Accuracy where answers are known: %.3f.\n", a) }
        s += "\n| request | measured E2EL ms | predicted ms |\n|---|---:|---:|\n"
        for p in perRequest { s += "| \(p.id) | \(f(p.measuredMs)) | \(f(p.predictedMs)) |\n" }
        return s
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
