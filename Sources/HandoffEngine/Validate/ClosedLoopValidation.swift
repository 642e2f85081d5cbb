import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff closed-loop`: runs `splitreason` live (natural lengths) over a threshold grid at one or
/// more concurrencies, fits a `ClosedLoopModel` on the runs at the fitting thresholds, and
/// compares, per cell, what was measured with:
///
/// - `predicted`: the fitted closed-loop model on the recorded small-only trace and its labels
///   (offload share, handoffs, output length, accuracy with its 95% interval), and the simulator on
///   the streams the model implies (latency, throughput) — what a user gets before running;
/// - `replay`: the simulator on the realised streams (separates the serving model's error from the
///   trajectory model's);
/// - `trace_only`: today's prediction from the recorded trace with no closed-loop model (the
///   scenario's policy planned on the trace, accuracy by `AccuracyModel`).
///
/// Every cell's requests are journaled in `OUT/runs/c<C>-t<τ>/samples.jsonl`: a rerun resumes.
public struct ClosedLoopValidation: Sendable {
    public var family: ScenarioFamily
    public var trace: Trace
    public var clients: [String: OpenAIClient]
    public var thresholds: [Double]
    public var fitThresholds: Set<Double>
    public var concurrencies: [Int]
    /// Trace requests run in every cell.
    public var requests: [Int]
    public var maxTokens: Int
    public var outDir: String
    /// What `handoff closed-loop` writes in its folder (the cells' journals under `runs/`).
    public static let fileNames: Set<String> = [
        "runs", "speed.jsonl", "host-load.txt", "closed-loop.json", "closed-loop-model.yaml", "README.md", "index.html"
    ]
    /// The trace restricted to `requests`, in that order (built once: every cell runs it).
    let subTrace: Trace

    public init(
        family: ScenarioFamily, trace: Trace, clients: [String: OpenAIClient], thresholds: [Double],
        fitThresholds: Set<Double>,
        concurrencies: [Int], requests: [Int], maxTokens: Int, outDir: String
    ) {
        self.family = family
        self.trace = trace
        self.clients = clients
        self.thresholds = thresholds
        self.fitThresholds = fitThresholds
        self.concurrencies = concurrencies
        self.requests = requests
        self.maxTokens = maxTokens
        self.outDir = outDir
        subTrace = trace.subset(requests)
    }

    public struct Cell: Sendable {
        public var concurrency: Int
        public var threshold: Double
        public var heldOut: Bool
        public var samples: [MeasuredRequest]
        public var report: ValidationReport
        public var measured: [(String, Double)]
        public var predicted: [(String, Double)]
        public var accuracyCI95: (Double, Double)?
        public var traceOnly: [(String, Double)]
        /// Each server's speed probe, taken just before the cell ran (none for a cell journaled
        /// before probes existed): tier → reading.
        public var speed: [String: SpeedProbe.Reading] = [:]
        /// `predicted`'s E2EL p50 with each law scaled by its server's probe (a diagnostic: how
        /// much of the latency miss is the machine's speed moving since calibration).
        public var speedAdjustedE2ELP50: Double?
        /// The policy's tiers in role order (the entry tier first): the order `speed` is reported in.
        public var roles: [String] = []
        /// Per sampled prediction key (offload, handoffs, latency, throughput), the 95% interval over the sampled streams' replications.
        public var predictedPI95: [String: (Double, Double)] = [:]
        /// How the live trajectories spread, and how the model's sampled streams do (all replications).
        public var spread: (measured: TrajectorySpread, model: TrajectorySpread)?
    }

    static func cellName(_ c: Int, _ tau: Double) -> String { "c\(c)-t\(JSONWriter.number(tau))" }

    func validator(_ c: Int, _ tau: Double) throws -> Validator {
        let sc = try family.scenario(["policy.offload_threshold=\(JSONWriter.number(tau))"])
        guard sc.policy.crossing != nil else {
            throw HandoffError.input("closed-loop validation runs policy splitreason", field: "policy.name")
        }
        var v = Validator(
            scenario: sc, trace: subTrace, clients: clients, sample: requests.count, concurrency: c,
            outDir: outDir + "/runs/" + Self.cellName(c, tau))
        v.lengths = .natural
        v.maxTokens = maxTokens
        return v
    }

    /// Runs what is not journaled yet, fits, and compares every cell.
    public func run(
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> (model: ClosedLoopModel, cells: [Cell], load: String?) {
        let before = HostLoad.Reading.now()
        let ran = Flag()
        var runs: [(Int, Double, Validator, [MeasuredRequest])] = []
        for c in concurrencies {
            for tau in thresholds {
                let v = try validator(c, tau)
                let label = "concurrency \(c), threshold \(JSONWriter.number(tau))"
                let name = Self.cellName(c, tau)
                let samples = try await v.runReal(
                    progress: { d, t in
                        ran.set(1)
                        progress("\(label): \(d)/\(t) requests")
                    },
                    beforeRunning: {
                        progress("\(label): probing the servers' speed")
                        try await self.probeSpeed(cell: name, scenario: v.scenario)
                    })
                runs.append((c, tau, v, samples))
            }
        }
        // The host's load over the requests this invocation ran, kept in OUT/host-load.txt for a
        // later invocation that runs nothing (it re-fits and reports the same journals).
        var load = ran.value == nil ? nil : HostLoad.between(before, HostLoad.Reading.now())?.summary
        let loadPath = outDir + "/host-load.txt"
        if let load {
            try FileIO.writeAtomically(load + "\n", to: loadPath)
        } else if FileManager.default.fileExists(atPath: loadPath) {
            load = String(decoding: try FileIO.read(loadPath), as: UTF8.self).trimmingCharacters(
                in: .whitespacesAndNewlines)
        }
        let sub = subTrace
        let segment = try validator(concurrencies[0], thresholds[0]).scenario.policy.crossing!.segmentTokens
        let fitRuns = runs.filter { fitThresholds.contains($0.1) }.map { run in
            ClosedLoopFit.Run(
                threshold: run.1, segment: segment,
                observations: run.3.map {
                    .init(
                        request: $0.index, outputTokens: $0.outputTokens, largeTokens: $0.largeTokens,
                        correct: $0.correct)
                })
        }
        let model = try ClosedLoopFit.fit(trace: sub, runs: fitRuns, maxTokens: maxTokens)
        let speeds = try SpeedLog.read(outDir + "/speed.jsonl")
        var cells: [Cell] = []
        for (c, tau, v, samples) in runs {
            cells.append(
                try compare(model, c, tau, v, samples, sub, segment, speed: speeds[Self.cellName(c, tau)] ?? [:]))
        }
        return (model, cells, load)
    }

    /// Probes each role's server (the entry tier with its top log-probabilities, which the crossing
    /// reads; the others without, as the run requests them) into `OUT/speed.jsonl`.
    func probeSpeed(cell: String, scenario sc: Scenario) async throws {
        let roles = sc.policy.roles
        try await SpeedLog.probe(
            clients: clients, scenario: sc, roles: roles, topLogprobs: [roles[0]: sc.engine[roles[0]]?.topLogprobs ?? 0],
            cell: cell, path: outDir + "/speed.jsonl")
    }

    func compare(
        _ model: ClosedLoopModel, _ c: Int, _ tau: Double, _ v: Validator, _ samples: [MeasuredRequest], _ sub: Trace,
        _ segment: Int,
        speed: [String: SpeedProbe.Reading] = [:]
    ) throws -> Cell {
        let report = try ValidationReport.make(v, samples)
        let n = Double(samples.count)
        func q(_ xs: [Double], _ p: Double) -> Double { Statistics.quantile(sorted: xs.sorted(), p) }
        let out = Double(samples.reduce(0) { $0 + $1.outputTokens })
        let judged = samples.compactMap(\.correct)
        let span = samples.map { $0.startS + $0.e2elS }.max()! - samples.map(\.startS).min()!
        var measured: [(String, Double)] = []
        if !judged.isEmpty { measured.append(("accuracy", Double(judged.filter { $0 }.count) / Double(judged.count))) }
        measured += [
            ("offload.token_fraction", Double(samples.reduce(0) { $0 + $1.largeTokens }) / max(1, out)),
            ("handoffs_per_request", Double(samples.reduce(0) { $0 + $1.handoffs }) / n),
            ("output_tokens_per_request", out / n),
            ("latency_ms.ttft.p50", q(samples.map { $0.ttftS * 1000 }, 0.5)),
            ("latency_ms.e2el.p50", q(samples.map { $0.e2elS * 1000 }, 0.5)),
            ("latency_ms.e2el.p95", q(samples.map { $0.e2elS * 1000 }, 0.95)),
            ("throughput_rps", n / span)
        ]
        // The prediction: the model's trajectories, then the simulator on streams drawn from them.
        let idx = samples.map(\.index)
        let p = ClosedLoopPrediction.make(model, trace: sub, requests: idx, threshold: tau, segment: segment)
        var s = v.scenario
        s.traffic = TrafficSpec.closedLoop(concurrency: c, requests: idx.count)
        s.policy = v.scenario.policy.crossing!.replay
        let streams = (0..<Self.replications).map { k in
            p.sampledStreams(
                model, trace: sub, requests: idx, segment: segment,
                seed: RandomStream.derive(seed: v.scenario.seed, name: "closed-loop-replication-\(k)"))
        }
        let replicated = try Self.replicate(s, streams)
        // The same prediction had each server been calibrated at the speed its probe measured
        // just before the cell: every coefficient of its law scaled by measured / calibrated.
        var speedAdjusted: Double?
        if !speed.isEmpty {
            var s3 = s
            for (i, t) in s3.tiers.enumerated() {
                if let r = speed[t.name] { s3.tiers[i].latency = t.latency.scaled(by: r.ratio) }
            }
            speedAdjusted = try Self.replicate(s3, streams).first { $0.key == "latency_ms.e2el.p50" }?.median
        }
        // Accuracy and length from the model's expectations; offload, handoffs and latency from the
        // sampled streams (the model's exact expectation of what its trajectories offload, where the
        // closed form approximates the cut at the answer's end).
        let sampled = Dictionary(uniqueKeysWithValues: replicated.map { ($0.key, $0.median) })
        var predicted: [(String, Double)] = []
        if let a = p.accuracy { predicted.append(("accuracy", a)) }
        for k in ClosedLoopReport.keys.dropFirst() {
            predicted.append((k, k == "output_tokens_per_request" ? p.outputTokensPerRequest : sampled[k]!))
        }
        return Cell(
            concurrency: c, threshold: tau, heldOut: !fitThresholds.contains(tau), samples: samples, report: report,
            measured: measured, predicted: predicted, accuracyCI95: p.accuracyCI95,
            traceOnly: try Self.traceOnly(v.scenario, c, sub.subset(idx)),
            speed: speed, speedAdjustedE2ELP50: speedAdjusted, roles: v.scenario.policy.roles,
            predictedPI95: Dictionary(uniqueKeysWithValues: replicated.map { ($0.key, $0.interval) }),
            spread: (
                TrajectorySpread(streams: samples.map(\.difficulty), threshold: tau, segment: segment),
                TrajectorySpread(
                    streams: streams.flatMap { t in (0..<t.count).map { t.difficulty.values(t.tokenRange($0)) } },
                    threshold: tau, segment: segment)
            ))
    }

    /// Today's prediction from the trace alone: the policy planned on the recorded trace, at the
    /// cell's concurrency.
    static func traceOnly(_ sc: Scenario, _ c: Int, _ trace: Trace) throws -> [(String, Double)] {
        var s2 = sc
        s2.traffic = TrafficSpec.closedLoop(concurrency: c, requests: trace.count)
        s2.policy = sc.policy.crossing!.traceOnly
        let planned = try Simulation.run(s2, trace: trace)
        let rec = planned.outcome.requests
        let recOut = Double(rec.reduce(0) { $0 + $1.outputTokens })
        var out: [(String, Double)] = []
        if let a = planned.accuracy { out.append(("accuracy", a.predicted)) }
        out += [
            ("offload.token_fraction", Double(rec.reduce(0) { $0 + $1.offloadedTokens }) / max(1, recOut)),
            ("handoffs_per_request", Double(rec.reduce(0) { $0 + $1.handoffs }) / Double(rec.count)),
            ("output_tokens_per_request", recOut / Double(rec.count)),
            ("latency_ms.e2el.p50", Statistics.quantile(sorted: rec.map { $0.e2elS * 1000 }.sorted(), 0.5))
        ]
        return out
    }

    /// Replications of the sampled streams per cell: each draws every request's stream afresh and
    /// runs the cell's closed loop on them. The prediction is the median over them, its interval
    /// their 2.5% and 97.5% quantiles (interpolated between order statistics).
    public static let replications = 40

    /// One metric over the replications.
    struct Replicated {
        var key: String
        var median: Double
        var interval: (Double, Double)
    }

    /// The simulator on each replication's streams: TTFT p50, E2EL p50 and p95, throughput, offload
    /// share and handoffs per request.
    static func replicate(_ s: Scenario, _ streams: [Trace]) throws -> [Replicated] {
        func q(_ xs: [Double], _ p: Double) -> Double { Statistics.quantile(sorted: xs.sorted(), p) }
        var rows: [[Double]] = []
        for t in streams {
            let sim = try Simulation.run(s, trace: t).outcome.requests
            let span = sim.map { $0.arrivalS + $0.e2elS }.max()! - sim.map(\.arrivalS).min()!
            rows.append([
                q(sim.map { $0.ttftS * 1000 }, 0.5), q(sim.map { $0.e2elS * 1000 }, 0.5),
                q(sim.map { $0.e2elS * 1000 }, 0.95), Double(sim.count) / span,
                Double(sim.reduce(0) { $0 + $1.offloadedTokens }) / Double(max(1, sim.reduce(0) { $0 + $1.outputTokens })),
                Double(sim.reduce(0) { $0 + $1.handoffs }) / Double(sim.count)
            ])
        }
        let keys = [
            "latency_ms.ttft.p50", "latency_ms.e2el.p50", "latency_ms.e2el.p95", "throughput_rps",
            "offload.token_fraction", "handoffs_per_request"
        ]
        return keys.indices.map { j in
            let xs = rows.map { $0[j] }
            return Replicated(key: keys[j], median: q(xs, 0.5), interval: (q(xs, 0.025), q(xs, 0.975)))
        }
    }

    /// `closed-loop.json`: one row per cell (keys in docs/closed-loop.md).
    public static func json(model: ClosedLoopModel, cells: [Cell]) -> JSONValue {
        func obj(_ xs: [(String, Double)]) -> [(String, JSONValue)] { xs.map { ($0.0, .number($0.1)) } }
        return .array(
            cells.map { c in
                var pred = obj(c.predicted)
                if let ci = c.accuracyCI95 { pred.append(("accuracy_ci95", .numbers([ci.0, ci.1]))) }
                for (k, _) in c.predicted {
                    if let pi = c.predictedPI95[k] { pred.append((k + "_pi95", .numbers([pi.0, pi.1]))) }
                }
                pred.append(("replications", .number(Double(replications))))
                let replay = c.report.rows.filter {
                    ["e2el_ms.p50", "e2el_ms.p95", "ttft_ms.p50", "throughput_rps"].contains($0.metric)
                }
                .map { r -> (String, JSONValue) in
                    let key =
                        r.metric == "throughput_rps"
                        ? r.metric : "latency_ms." + r.metric.replacingOccurrences(of: "_ms", with: "")
                    return (key, .number(r.predicted))
                }
                var row: [(String, JSONValue)] = [
                    ("concurrency", .number(Double(c.concurrency))), ("offload_threshold", .number(c.threshold)),
                    ("held_out", .bool(c.heldOut)), ("requests", .number(Double(c.samples.count))),
                    ("measured", .object(obj(c.measured))), ("predicted", .object(pred)),
                    (
                        "replay",
                        .object(
                            replay + [
                                ("e2el_per_request_median_abs_error_pct", .number(c.report.e2elMedianAbsErrorPct))
                            ])
                    ),
                    ("trace_only", .object(obj(c.traceOnly)))
                ]
                // measured / calibrated ms per decoded token, per server, probed just before the cell.
                let speed = c.roles.compactMap { t in
                    c.speed[t].map { r -> (String, JSONValue) in
                        (
                            t,
                            .object([
                                ("decode_ms", .number(r.measuredMs)), ("calibrated_ms", .number(r.lawMs)),
                                ("ratio", .number(r.ratio))
                            ])
                        )
                    }
                }
                if !speed.isEmpty { row.append(("speed_probe", .object(speed))) }
                if let sp = c.spread {
                    row.append(("trajectories", .object([("measured", sp.measured.json), ("model", sp.model.json)])))
                }
                if let a = c.speedAdjustedE2ELP50 {
                    row.append(("predicted_speed_adjusted", .object([("latency_ms.e2el.p50", .number(a))])))
                }
                return .object(row)
            })
    }
}
