import ArgumentParser
import Foundation
import Handoff

struct CapacityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capacity",
        abstract: "The fewest replicas (and cheapest GPU types) per tier that meet SLOs at an arrival rate.",
        discussion: """
            --slo KEY<=BOUND or KEY>=BOUND (repeatable; any summary key, e.g. 'latency_ms.ttft.p99<=2000' or \
            'accuracy.predicted>=0.4'). --tp TIER=1,2,4 and --dtype TIER=bf16,fp8 add tensor-parallel sizes and weight \
            formats to the combinations sized. --gpus TIER=A,B,C \
            lists candidate GPU types for a tier: every combination is sized and the cheapest in $/hour wins. \
            Prints GPUs, $/hour and utilisation per tier, and the headroom: the highest rate the plan sustains. \
            A plan with failed or rejected requests never meets the SLOs. Output keys: docs/tuning.md.
            Example: handoff capacity --rate 2/s --slo 'latency_ms.ttft.p99<=2000' --gpus large=H100-SXM-80GB,A100-SXM-80GB
            """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    // Unconditional: `--rate -2/s` reaches parseRate, which says the rate is negative, instead of the
    // parser taking -2/s for an option and reporting a missing value.
    @Option(parsing: .unconditional, help: ArgumentHelp("Arrival rate: N/s, N/min or N/h.", valueName: "rate"))
    var rate: String
    @Option(
        name: .customLong("slo"),
        help: ArgumentHelp("A service-level bound: KEY<=VALUE or KEY>=VALUE (repeatable).", valueName: "bound"))
    var slos: [String] = []
    @Option(
        name: .customLong("gpus"),
        help: ArgumentHelp("Candidate GPU types for a tier (repeatable).", valueName: "tier=A,B"))
    var gpus: [String] = []
    @Option(
        name: .customLong("tp"),
        help: ArgumentHelp("Candidate tensor-parallel sizes for a tier (repeatable).", valueName: "tier=1,2,4"))
    var tps: [String] = []
    @Option(
        name: .customLong("dtype"),
        help: ArgumentHelp(
            "Candidate weight formats for a tier's model: bf16, fp16, fp8, int8, int4 (repeatable).",
            valueName: "tier=bf16,fp8"))
    var dtypes: [String] = []
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Largest replica count tried per tier.") var maxReplicas: Int = 512
    @Flag(help: "Skip planning each tier of the policy alone (small-only, large-only) and the verdict.")
    var noBaselines = false
    @Option(help: "Output format.") var format: TableOrJSON = .table
    @Option(help: "Also write capacity.json into this folder.") var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            let choices = try Self.choices(gpus, "--gpus")
            let tpChoices = try tpSizes()
            guard maxReplicas >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--max-replicas") }
            if let out {
                try output.directory(out, "--out", inputs: [scenario], ownNames: ["capacity.json"], inPlace: true)
            }
            let planner = try CapacityPlanner(
                family: try ScenarioFamily(path: scenario, overrides: overrides),
                rateRps: try CapacityPlanner.parseRate(rate),
                slos: try slos.map { try MetricConstraint.parse($0, field: "--slo") },
                gpuChoices: choices, tpChoices: tpChoices, dtypeChoices: try Self.choices(dtypes, "--dtype"))
            planner.maxReplicas = maxReplicas
            let progress = Progress("capacity", offTerminalEvery: 10)
            planner.progress = { progress.note($0) }
            let started = Date()
            let r = try planner.run()
            let baselines = noBaselines ? [] : try planner.baselines()
            progress.finish()
            let verdict = baselines.isEmpty ? nil : CapacityPlanner.verdict(r, baselines)
            var json = planner.json(r)
            if case .object(var pairs) = json {
                pairs.insert(("baselines", planner.baselinesJSON(baselines)), at: pairs.count - 2)
                pairs.insert(("verdict", verdict.map { .string($0.sentence) } ?? .null), at: pairs.count - 2)
                pairs.insert(("recommended", verdict?.recommended.map(JSONValue.string) ?? .null), at: pairs.count - 2)
                json = .object(pairs)
            }
            let tail = Self.baselineLines(baselines, verdict?.sentence, slos: planner.slos)
            if let out { try writeJSON(json, to: out, name: "capacity.json") }
            if format == .json {
                emit(JSONWriter.write(json, pretty: true) + "\n")
                if r.plan == nil { throw ExitCode(1) }
                return
            }
            var s =
                "capacity \(planner.family.origin) at \(JSONWriter.number(planner.rateRps)) req/s, SLO \(planner.slos.map(\.description).joined(separator: ", "))\n"
            guard let p = r.plan, let sum = r.summary else {
                emit(s + noPlan(r, planner) + tail)
                throw ExitCode(1)
            }
            s += "tier      gpu                 tp  weights  replicas  gpus        busy\n"
            for (k, t) in r.tiers.enumerated() {
                s +=
                    t.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + p.gpus[k].padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(p.tensorParallel[k]).padding(toLength: 4, withPad: " ", startingAt: 0)
                    + p.weightDtypes[k].padding(toLength: 7, withPad: " ", startingAt: 0)
                s += String(
                    format: "%8d  %4d  %10.0f%%%@\n", p.replicas[k], p.replicas[k] * p.tensorParallel[k],
                    100 * (sum.number(at: "utilization.\(t)") ?? 0),
                    planner.billed[k] ? "" : "  (unused by the policy: not billed, not counted)")
            }
            s += String(format: "total: %d GPUs, $%.2f/hour\n", r.gpuCount, r.usdPerHour)
            for c in planner.slos {
                s += "  \(c.key) = \(fmt(sum.number(at: c.key))) (bound \(JSONWriter.number(c.bound)))\n"
            }
            s += headroomLines(r, planner, sum)
            if let note = SimulationOutput.stabilityWarning(sum) { s += note }
            if r.candidates.count > 1 {
                s += "combinations (GPU\(tps.isEmpty ? "" : ", TP")\(dtypes.isEmpty ? "" : ", weights") per tier):\n"
                for c in r.candidates {
                    let shape = r.tiers.indices.map { k in
                        c.plan.shape(k, tp: planner.tpChoices[r.tiers[k]] != nil, dtype: planner.dtypeChoices[r.tiers[k]] != nil)
                    }
                    s +=
                        "  \(shape.joined(separator: " / ")): "
                        + (c.replicas.map {
                            "\($0.map(String.init).joined(separator: "/")) replicas, $\(String(format: "%.2f", c.usdPerHour!))/hour"
                        } ?? "no plan") + "\n"
                }
            }
            s += tail
            s += String(
                format: "%d simulations in %.1f s\n", r.simulations + baselines.reduce(0) { $0 + ($1.result?.simulations ?? 0) },
                Date().timeIntervalSince(started))
            emit(s)
        }
    }

    /// One line per baseline plan, and the verdict.
    static func baselineLines(_ bs: [CapacityBaseline], _ verdict: String?, slos: [MetricConstraint]) -> String {
        guard !bs.isEmpty else { return "" }
        var s = "baselines (each tier alone, planned the same way):\n"
        for b in bs {
            s += "  \(b.name.padding(toLength: 12, withPad: " ", startingAt: 0)) "
            guard let r = b.result, let p = r.plan, let k = r.tiers.firstIndex(of: b.tier) else {
                s += b.error.map { "could not be planned: \($0)" } ?? "no plan meets the SLOs"
                if let (plan, sum) = b.result?.largestTried, let k = plan.gpus.indices.first(where: { b.result!.tiers[$0] == b.tier }) {
                    let missed = slos.compactMap { c in
                        c.satisfied(sum) ? nil : "\(c.key) = \(fmt(sum.number(at: c.key)))"
                    }
                    s +=
                        " (largest tried: \(plan.replicas[k]) × \(plan.shape(k, tp: true, dtype: true)): \(missed.isEmpty ? SummaryKeys.stability(sum) : missed.joined(separator: ", ")); --tp and --dtype widen the search)"
                }
                s += "\n"
                continue
            }
            var acc = fmt(r.summary?.number(at: "accuracy.predicted"))
            if SummaryKeys.syntheticAccuracy(r.summary) { acc += " (SYNTHETIC)" }
            s += "\(p.replicas[k]) × \(p.gpus[k]) (tp \(p.tensorParallel[k]), \(p.weightDtypes[k])), \(r.gpuCount) GPU\(r.gpuCount == 1 ? "" : "s"), $\(String(format: "%.2f", r.usdPerHour))/hour, accuracy \(acc)\n"
        }
        if let v = verdict { s += "verdict: \(v)\n" }
        return s
    }

    /// `--tp TIER=1,2,4` as sizes per tier.
    func tpSizes() throws -> [String: [Int]] {
        try Self.choices(tps, "--tp").mapValues { vs in
            try vs.map { v -> Int in
                guard let n = Int(v), n >= 1 else {
                    throw HandoffError.input("'\(v)' is not a tensor-parallel size (1, 2, 4, …)", field: "--tp")
                }
                return n
            }
        }
    }

    /// `TIER=A,B` options (`--gpus`, `--tp`, `--dtype`) as candidates per tier.
    static func choices(_ given: [String], _ option: String) throws -> [String: [String]] {
        var choices: [String: [String]] = [:]
        for g in given {
            guard let eq = g.firstIndex(of: "=") else {
                throw HandoffError.input("expected tier=A,B", field: "\(option) \(g)")
            }
            let names = g[g.index(after: eq)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }) else {
                throw HandoffError.input("no values listed", field: "\(option) \(g)")
            }
            choices[String(g[..<eq]), default: []] += names
        }
        return choices
    }

    /// What to print when no plan meets the SLOs: the largest tried and how close it came.
    func noPlan(_ r: CapacityResult, _ planner: CapacityPlanner) -> String {
        var s = "no plan up to \(maxReplicas) replicas per tier meets the SLO\n"
        guard let (plan, sum) = r.largestTried else { return s }
        s +=
            "the largest plan tried, \(plan.replicas.map(String.init).joined(separator: "/")) replicas of \(plan.gpus.joined(separator: "/")) (\(r.runRequests) requests per run), reached:\n"
        for c in planner.slos {
            let v = sum.number(at: c.key)
            s += "  \(c.key) = \(fmt(v)) (bound \(JSONWriter.number(c.bound)))\(c.satisfied(sum) ? "" : " OUT OF REACH")\n"
        }
        if (sum.number(at: "requests_failed") ?? 0) > 0 {
            s +=
                "  \(Int(sum.number(at: "requests_failed") ?? 0)) requests failed or were rejected (a request that does not fit in a replica's memory fails at any count)\n"
        }
        if let w = SimulationOutput.stabilityWarning(sum) { s += w }
        return s
    }

    /// The headroom, how it settled as the runs doubled, and what a replayed trace means for it.
    func headroomLines(_ r: CapacityResult, _ planner: CapacityPlanner, _ sum: JSONValue) -> String {
        guard let h = r.headroomRps else { return "" }
        var s = String(
            format: "headroom: the plan meets the SLO up to %.4g req/s (%.2f× the rate), ", h, h / planner.rateRps)
        s +=
            "at \(r.runRequests) requests per run ("
            + r.headroomByRequests.map { "\($0.requests): \(String(format: "%.4g", $0.rps))" }.joined(separator: ", ")
            + " req/s)\n"
        let traceRequests = Int(sum.number(at: "requests") ?? 0)
        if planner.replays && r.runRequests > planner.traceRequests {
            s +=
                "note: the replayed trace has \(planner.traceRequests) requests; longer runs repeat its arrivals, so the check across run lengths shows the backlog does not carry over between passes, not a new sample (\(traceRequests) requests served)\n"
        }
        if !r.headroomSettled {
            s +=
                "WARNING: the headroom still moved by more than \(Int(100 * CapacityPlanner.headroomTolerance))% when the runs doubled: the runs are too short to trust it; simulate more requests (--set traffic.requests=N)\n"
        }
        return s
    }
}
