import ArgumentParser
import Foundation
import Handoff

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Find the best configuration under constraints, or the one that hits a target metric.",
        discussion: """
            --vary path=lo:hi is a continuous interval, searched with GSL's Brent methods (a scan, then root \
            finding on the constraint boundaries and minimisation); --vary path=a,b,c or path=start:stop:step is \
            enumerated (at most one continuous interval). --objective: cost (cost_usd.per_1k_requests), latency \
            (latency_ms.e2el.p99), ttft, accuracy, throughput, or min:KEY / max:KEY for any summary key. \
            --constraint KEY<=BOUND or KEY>=BOUND (repeatable); BOUND is a plain number in the key's own unit: \
            latency_ms.* in milliseconds (15 s is 15000), cost_usd.* in US dollars, throughput_rps and \
            slo.goodput_rps in requests per second, accuracy.* and *_fraction as fractions (40% is 0.4). A \
            configuration with failed or rejected requests, or whose run is overloaded or too short \
            (stability.state), never meets the constraints. --target KEY=VALUE finds the value of the varied field whose metric is \
            closest to VALUE, e.g. --target offload.token_fraction=0.05 (RouteLLM-style threshold calibration). \
            Keys: docs/output.md. Output keys: docs/tuning.md.
            Example: handoff tune --objective cost --constraint 'latency_ms.e2el.p99<=120000' \
            --constraint 'accuracy.predicted>=0.40' --vary policy.offload_threshold=0:1
            """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(help: "cost, latency, ttft, accuracy, throughput, min:KEY or max:KEY.") var objective: String?
    @Option(
        name: .customLong("constraint"),
        help: ArgumentHelp(
            "A bound: KEY<=VALUE or KEY>=VALUE in the key's unit, e.g. 'latency_ms.e2el.p99<=15000' (ms) (repeatable).",
            valueName: "bound"))
    var constraints: [String] = []
    @Option(help: ArgumentHelp("Find the configuration whose metric is closest to VALUE.", valueName: "KEY=VALUE"))
    var target: String?
    @Option(
        name: .customLong("vary"),
        help: ArgumentHelp(
            "A field to vary: path=lo:hi, path=a,b,c or path=start:stop:step (repeatable).", valueName: "path=range"))
    var vary: [String] = []
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a field for every evaluation (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Points of the first scan of a continuous interval.") var scan: Int = 9
    @Option(
        help: ArgumentHelp(
            "What the search resolves, as a fraction of a continuous interval: points lie on the power-of-ten grid at or below it (0:1 → steps of 0.01). Default: 0.01 with --objective, 0.001 with --target."
        ))
    var tolerance: Double?
    @Option(help: "Objectives within this fraction of the best tie (0.005 = 0.5%); the tie breakers decide.")
    var tie: Double = 0.005
    @Option(
        name: .customLong("tie-break"),
        help: ArgumentHelp(
            "A tie breaker, min:KEY or max:KEY or min:gpus (repeatable, in order; default max:accuracy.predicted then min:gpus).",
            valueName: "objective"))
    var tieBreak: [String] = []
    @Flag(help: "Skip the single-tier baselines (each tier of the policy alone) and the verdict.")
    var noBaselines = false
    @Flag(
        help: "Simulate every combination: no skipping of those whose $/hour alone already costs more than the best answer (min cost only)."
    )
    var exhaustive = false
    @Option(help: "Combinations of the discrete fields searched at once (default: all cores).") var jobs: Int?
    @Option(help: "Output format.") var format: TableOrJSON = .table
    @Option(help: "Also write tune.json into this folder.") var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            let spec = try self.spec()
            if let out {
                try output.directory(
                    out, "--out", inputs: [scenario], ownNames: ["tune.json", "serve.sh", "scenario.yaml", "bench.sh"],
                    inPlace: true)
            }
            let tuner = Tuner(family: try ScenarioFamily(path: scenario, overrides: overrides), spec: spec)
            let progress = Progress("tune", offTerminalEvery: 10)
            tuner.progress = { progress.note($0) }
            let r = try tuner.run()
            progress.finish()
            let json = tuner.json(r)
            // The configuration the verdict recommends: a baseline's when it beats the hybrid.
            let chosen = r.recommended.map { r.baselines[$0] }
            let deploy = try (chosen?.best ?? r.best).map { b in
                try Deployment(
                    family: chosen.map { tuner.family.derived($0.overrides) } ?? tuner.family,
                    overrides: b.config.map { "\($0.path)=\($0.value)" }, summary: b.summary)
            }
            if let out { try write(json, deploy, to: out) }
            let infeasible = spec.target == nil && r.best?.feasible != true
            if format == .json {
                emit(JSONWriter.write(json, pretty: true) + "\n")
            } else {
                var s = table(r, tuner)
                if let d = deploy, (chosen?.best ?? r.best)?.feasible == true || spec.target != nil {
                    let files =
                        out.map { "written to \($0)/: serve.sh, scenario.yaml, bench.sh" }
                        ?? "--out DIR writes serve.sh, scenario.yaml, bench.sh"
                    s += "deploy \(chosen?.name ?? (r.baselines.isEmpty ? "it" : "the hybrid")) with vLLM (\(files)):\n"
                    s += d.serveLines.map { "  \($0)\n" }.joined()
                }
                emit(s)
            }
            if infeasible { throw ExitCode(1) }
        }
    }

    /// The search the options describe (bad values exit 2 before any simulation).
    func spec() throws -> TuneSpec {
        let obj = try objective.map(Objective.parse)
        let cons = try constraints.map { try MetricConstraint.parse($0) }
        var tgt: (String, Double)?
        if let t = target {
            guard let eq = t.firstIndex(of: "="), let v = Double(t[t.index(after: eq)...]), v.isFinite else {
                throw HandoffError.input(
                    "expected KEY=VALUE with a number, e.g. offload.token_fraction=0.05", field: "--target \(t)")
            }
            tgt = (String(t[..<eq]), v)
        }
        guard scan >= 3 else { throw HandoffError.input("expected ≥ 3", field: "--scan") }
        if let tolerance, !(tolerance > 0 && tolerance < 1) {
            throw HandoffError.input("expected a fraction in (0, 1)", field: "--tolerance")
        }
        var spec = TuneSpec(objective: obj, constraints: cons, target: tgt, axes: try vary.map(TuneAxis.parse))
        spec.scanPoints = scan
        spec.tolerance = tolerance
        spec.tie = tie
        spec.tieBreak = tieBreak.isEmpty ? nil : try tieBreak.map(Objective.parse)
        spec.baselines = !noBaselines
        spec.exhaustive = exhaustive
        spec.jobs = try jobCount(jobs)
        return spec
    }

    /// tune.json and, for the recommended configuration, serve.sh, scenario.yaml and bench.sh.
    func write(_ json: JSONValue, _ deploy: Deployment?, to out: String) throws {
        try writeJSON(json, to: out, name: "tune.json")
        for f in deploy?.files ?? [] {
            try FileIO.writeAtomically(f.text, to: out + "/" + f.name)
            if f.name.hasSuffix(".sh") {
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: out + "/" + f.name)
            }
        }
    }

    /// The answer as text: the search, the best point's figures, the baselines and the verdict.
    func table(_ r: TuneResult, _ tuner: Tuner) -> String {
        let spec = tuner.spec
        let (obj, cons, tgt) = (spec.objective, spec.constraints, spec.target)
        var s =
            "tune \(tuner.family.origin): \(obj.map { $0.description } ?? "target \(tgt!.key) = \(JSONWriter.number(tgt!.value))")"
        if !cons.isEmpty { s += " subject to " + cons.map(\.description).joined(separator: ", ") }
        s += "\n\(r.method); \(r.simulations) simulations\n"
        if let n = r.note { s += "note: \(n)\n" }
        if let b = r.best {
            s +=
                (b.feasible || tgt != nil ? "best: " : "NOT FEASIBLE, least bad: ")
                + b.config.map { "\($0.path)=\($0.value)" }.joined(separator: " ") + "\n"
            var keys = cons.map(\.key)
            if let o = obj { keys.insert(o.key, at: 0) }
            if let t = tgt { keys.insert(t.key, at: 0) }
            for k in [
                "cost_usd.per_1k_requests", "latency_ms.e2el.p99", "latency_ms.ttft.p99", "accuracy.predicted",
                "offload.token_fraction"
            ] where !keys.contains(k) { keys.append(k) }
            for k in keys {
                s += "  \(k.padding(toLength: 28, withPad: " ", startingAt: 0)) \(fmt(b.summary.number(at: k)))\n"
            }
            s +=
                "  \("gpus (billed)".padding(toLength: 28, withPad: " ", startingAt: 0)) \(b.gpus), $\(HumanNumber.format(b.usdPerHour))/hour\n"
            if let w = SimulationOutput.stabilityWarning(b.summary) { s += w }
            if keys.contains(where: { $0.hasPrefix("accuracy.") }),
                case .string(let src)? = b.summary["accuracy"]?["source"],
                src == "synthetic" || src == "none"
            {
                s +=
                    "WARNING: accuracy.source is \(src): \(src == "synthetic" ? "the labels were invented by the synthetic generator, so an accuracy bound or objective here optimises the generator's presets, not your models" : "there are no labels for the model that runs")\n"
            }
        }
        return s + baselineLines(r, keys: [obj?.key].compactMap { $0 } + cons.map(\.key))
    }
}

extension TuneCommand {
    /// The baselines' answers, one line each, and the verdict.
    func baselineLines(_ r: TuneResult, keys: [String]) -> String {
        guard !r.baselines.isEmpty else { return "" }
        var s = "baselines (the same problem, each tier alone at its best among the tier fields varied):\n"
        for b in r.baselines {
            s += "  \(b.name.padding(toLength: 12, withPad: " ", startingAt: 0)) "
            guard let p = b.best else {
                s += "could not run: \(b.error ?? "nothing evaluated")\n    → \(b.versus)\n"
                continue
            }
            s += p.feasible ? "meets the constraints" : "MISSES the constraints"
            if !p.config.isEmpty { s += " at " + p.config.map { "\($0.path)=\($0.value)" }.joined(separator: " ") }
            s += ": " + keys.map { "\($0) \(fmt(p.summary.number(at: $0)))" }.joined(separator: ", ")
            s += ", \(p.gpus) GPU\(p.gpus == 1 ? "" : "s")\n"
            s += "    → \(b.versus)\n"
        }
        if let v = r.verdict { s += "verdict: \(v)\n" }
        return s
    }
}
