import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// The fitted SPECS model against every cell: what a user gets before running, from the recorded
/// trace and its labels alone.
public struct SpecsPrediction: Sendable {
    /// Replications of sampled trajectories per cell (as `closed-loop`); accuracy draws per replication.
    public static let replications = 40
    static let draws = 25
    public var values: [(String, Double)]
    public var pi95: [String: (Double, Double)]
    /// The simulator on the realised steps (each request's live steps, lengths and decisions): what
    /// separates the serving model's error from the trajectory model's.
    public var replay: [(String, Double)] = []
    /// The predicted E2EL p50 with each tier's law scaled by its speed probe before the cell (how much
    /// of a latency miss is the host's speed moving since calibration).
    public var speedAdjustedE2ELP50: Double?
    /// What produced the figures: `fitted SPECS model`, or the recorded trace for a one-tier baseline.
    public var source: String
}

extension SpecsSample {
    /// The sample as the fit reads it.
    var observation: SpecsFit.Request {
        SpecsFit.Request(
            request: index,
            steps: steps.map {
                SpecsModel.Step(
                    draftScores: $0.draft?.candidates.compactMap(\.score) ?? [],
                    targetScores: $0.target?.candidates.compactMap(\.score) ?? [], tokens: $0.emitted.tokens)
            }, ended: steps.last?.emitted.end == "eos", correct: correct)
    }
}

extension SpecsLoop {
    /// Fits on the SPECS cells at `widths`.
    public static func fit(_ cells: [Cell], widths: Set<Int>, trace: Trace, maxTokens: Int) throws -> SpecsModel {
        let obs = cells.filter {
            if case .specs(let n, _, _) = $0.spec.arm { return widths.contains(n) }
            return false
        }.flatMap { $0.samples.map(\.observation) }
        return try SpecsFit.fit(trace: trace, requests: obs, maxTokens: maxTokens, widths: widths.sorted())
    }

    /// The model's (or, for a one-tier baseline, the trace's) figures for `cell`, with 95% intervals
    /// over sampled trajectories and outcomes.
    public static func predict(
        _ m: SpecsModel, cell: Cell, trace: Trace, seed: UInt64, family: ScenarioFamily? = nil
    ) throws -> SpecsPrediction {
        let idx = cell.samples.map(\.index)
        if case .greedy(let tier) = cell.spec.arm {
            var g = greedy(tier, idx, trace: trace, maxTokens: m.maxTokens)
            if let family {
                var s = try family.scenario(["policy.name=\(tier)-only"])
                s.traffic = TrafficSpec.closedLoop(concurrency: cell.spec.concurrency, requests: idx.count)
                g.values += latencyFigures(try Simulation.run(s, trace: trace.subset(idx)).outcome.requests)
            }
            return g
        }
        var rule = SpecsModel.Rule(width: cell.spec.arm.width, threshold: 1, switchBack: 1, drafts: false)
        if case .specs(let n, let t, let s) = cell.spec.arm { rule = .init(width: n, threshold: t, switchBack: s) }
        var reps: [[String: Double]] = []
        var accDraws: [Double] = []
        var sampled: [[[SpecsModel.Step]]] = []
        for k in 0..<SpecsPrediction.replications {
            var steps: [[SpecsModel.Step]] = []
            var p: [Double] = []
            for r in idx {
                let rng = RandomStream(
                    seed: RandomStream.derive(seed: seed, name: "specs-\(cell.spec.name)-replication-\(k)-request-\(r)"))
                let x = m.sample(trace: trace, request: r, rule: rule, rng: rng)
                steps.append(x.steps)
                if let pc = x.pCorrect { p.append(pc) }
            }
            sampled.append(steps)
            var x = summary(steps)
            if !p.isEmpty {
                x["accuracy"] = Statistics.mean(p)
                let rng = RandomStream(seed: RandomStream.derive(seed: seed, name: "specs-\(cell.spec.name)-outcomes-\(k)"))
                for _ in 0..<SpecsPrediction.draws { accDraws.append(Double(p.filter { rng.bernoulli($0) }.count) / Double(p.count)) }
            }
            reps.append(x)
        }
        var values: [(String, Double)] = []
        var pi: [String: (Double, Double)] = [:]
        for key in SpecsReport.keys {
            let xs = reps.compactMap { $0[key] }.sorted()
            guard !xs.isEmpty else { continue }
            values.append((key, key == "accuracy" ? Statistics.mean(xs) : Statistics.quantile(sorted: xs, 0.5)))
            let spread = key == "accuracy" ? accDraws.sorted() : xs
            pi[key] = (Statistics.quantile(sorted: spread, 0.025), Statistics.quantile(sorted: spread, 0.975))
        }
        if rule.drafts {
            // Under the model every draft phase is an independent step: its acceptance is exact.
            let exact: [String: Double] = [
                "acceptance_rate": m.acceptance(width: rule.width, threshold: rule.threshold),
                "candidate_pass_rate": m.acceptance(width: 1, threshold: rule.threshold)
            ]
            values = values.map { ($0.0, exact[$0.0] ?? $0.1) }
            if !values.contains(where: { $0.0 == "candidate_pass_rate" }) {
                values.append(("candidate_pass_rate", exact["candidate_pass_rate"]!))
            }
        }
        var out = SpecsPrediction(values: values, pi95: pi, source: "fitted SPECS model")
        if let family, rule.drafts {
            try addLatency(&out, family: family, cell: cell, trace: trace, sampled: sampled, rule: rule, judge: m.scorePromptTokens)
        }
        return out
    }

    /// The simulator at the cell's concurrency, with the judge's fitted prompt tokens per scoring call:
    /// on each replication's sampled steps (median, 95% interval) and on the realised ones (`replay`).
    /// SPECS cells only: the policy cannot express target beam search.
    static func addLatency(
        _ p: inout SpecsPrediction, family: ScenarioFamily, cell: Cell, trace: Trace, sampled: [[[SpecsModel.Step]]],
        rule: SpecsModel.Rule, judge: Int
    ) throws {
        let idx = cell.samples.map(\.index)
        var s = try family.scenario([
            "policy.name=specs", "policy.beam_width=\(rule.width)",
            "policy.rejection_threshold=\(JSONWriter.number(rule.threshold))",
            "policy.switch_back_threshold=\(JSONWriter.number(rule.switchBack))", "policy.acceptance_from=trace",
            "policy.score_prompt_tokens=\(judge)"
        ])
        s.policy = s.policy.specsModelRun?.replay ?? s.policy
        s.traffic = TrafficSpec.closedLoop(concurrency: cell.spec.concurrency, requests: idx.count)
        func run(_ t: [[SpecsModel.Step]], _ sc: Scenario) throws -> [(String, Double)] {
            let steps = SpecsModel.stepsTrace(base: trace, requests: idx, trajectories: t, rule: rule)
            return latencyFigures(try Simulation.run(sc, trace: steps).outcome.requests)
        }
        if !cell.speed.isEmpty {
            var scaled = s
            for (i, t) in s.tiers.enumerated() {
                if let r = cell.speed[t.name] { scaled.tiers[i].latency = t.latency.scaled(by: r.ratio) }
            }
            let xs = try sampled.map { try run($0, scaled).first { $0.0 == "latency_ms.e2el.p50" }!.1 }.sorted()
            p.speedAdjustedE2ELP50 = Statistics.quantile(sorted: xs, 0.5)
        }
        let reps = try sampled.map { try run($0, s) }
        for (j, (key, _)) in reps[0].enumerated() {
            let xs = reps.map { $0[j].1 }.sorted()
            p.values.append((key, Statistics.quantile(sorted: xs, 0.5)))
            p.pi95[key] = (Statistics.quantile(sorted: xs, 0.025), Statistics.quantile(sorted: xs, 0.975))
        }
        p.replay = try run(cell.samples.map(\.observation.steps), s)
    }

    static func latencyFigures(_ rs: [RequestOutcome]) -> [(String, Double)] {
        func q(_ xs: [Double], _ p: Double) -> Double { Statistics.quantile(sorted: xs.sorted(), p) }
        let span = rs.map { $0.arrivalS + $0.e2elS }.max()! - rs.map(\.arrivalS).min()!
        return [
            ("latency_ms.ttft.p50", q(rs.map { $0.ttftS * 1000 }, 0.5)),
            ("latency_ms.e2el.p50", q(rs.map { $0.e2elS * 1000 }, 0.5)),
            ("latency_ms.e2el.p95", q(rs.map { $0.e2elS * 1000 }, 0.95)),
            ("throughput_rps", Double(rs.count) / max(span, 1e-9))
        ]
    }

    /// One replication's figures over its requests' sampled steps (the measured keys).
    static func summary(_ reqs: [[SpecsModel.Step]]) -> [String: Double] {
        let steps = reqs.flatMap { $0 }
        let drafts = steps.filter { !$0.draftScores.isEmpty }
        let n = Double(max(1, reqs.count))
        var x: [String: Double] = [
            "target_step_share": Double(steps.filter(\.byTarget).count) / Double(max(1, steps.count)),
            "steps_per_request": Double(steps.count) / n,
            "output_tokens_per_request": Double(steps.reduce(0) { $0 + $1.tokens }) / n
        ]
        if !drafts.isEmpty {
            x["acceptance_rate"] = Double(drafts.filter(\.accepted).count) / Double(drafts.count)
        }
        return x
    }

    /// A one-tier baseline is what the trace recorded: its lengths and labels.
    static func greedy(_ tier: String, _ idx: [Int], trace: Trace, maxTokens: Int) -> SpecsPrediction {
        let small = tier == "small"
        let lens = idx.map { r in min(maxTokens, small ? trace.outputTokens(r) : trace.requests[r].largeOutputTokens ?? 0) }
        let labels = idx.compactMap { small ? trace.requests[$0].smallCorrect : trace.requests[$0].largeCorrect }
        var values: [(String, Double)] = []
        if !labels.isEmpty { values.append(("accuracy", Double(labels.filter { $0 }.count) / Double(labels.count))) }
        values += [
            ("steps_per_request", 1),
            ("output_tokens_per_request", Double(lens.reduce(0, +)) / Double(max(1, idx.count)))
        ]
        return SpecsPrediction(values: values, pi95: [:], source: "the recorded \(tier)-only trace (greedy, labelled)")
    }
}
