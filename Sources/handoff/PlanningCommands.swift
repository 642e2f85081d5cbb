import ArgumentParser
import Foundation
import Handoff

/// Formats a summary number for tables.
func fmt(_ x: Double?) -> String { x.map { String(format: "%.4g", $0) } ?? "—" }

/// Writes `json` (pretty, atomically) as `dir/name`, in a directory already checked or prepared
/// (`OutputOptions`); creates and marks `dir` when it is new.
func writeJSON(_ json: JSONValue, to dir: String, name: String) throws {
    try FileIO.prepareOutputDirectory(dir, argument: "--out", force: true, ownNames: [name])
    try FileIO.writeAtomically(JSONWriter.write(json, pretty: true) + "\n", to: dir + "/" + name)
}

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Find the best configuration under constraints, or the one that hits a target metric.",
        discussion: """
        --vary path=lo:hi is a continuous interval, searched with GSL's Brent methods (a scan, then root \
        finding on the constraint boundaries and minimisation); --vary path=a,b,c or path=start:stop:step is \
        enumerated (at most one continuous interval). --objective: cost (cost_usd.per_1k_requests), latency \
        (latency_ms.e2el.p99), ttft, accuracy, throughput, or min:KEY / max:KEY for any summary key. \
        --constraint KEY<=BOUND or KEY>=BOUND (repeatable). A configuration with failed or rejected requests \
        never meets the constraints. --target KEY=VALUE finds the value of the varied field whose metric is \
        closest to VALUE, e.g. --target offload.token_fraction=0.05 (RouteLLM-style threshold calibration). \
        Keys: docs/output.md. Output keys: docs/tuning.md.
        Example: handoff tune --objective cost --constraint 'latency_ms.e2el.p99<=120000' \
        --constraint 'accuracy.predicted>=0.40' --vary policy.offload_threshold=0:1
        """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(help: "cost, latency, ttft, accuracy, throughput, min:KEY or max:KEY.") var objective: String?
    @Option(name: .customLong("constraint"), help: ArgumentHelp("A bound: KEY<=VALUE or KEY>=VALUE (repeatable).", valueName: "bound"))
    var constraints: [String] = []
    @Option(help: ArgumentHelp("Find the configuration whose metric is closest to VALUE.", valueName: "KEY=VALUE")) var target: String?
    @Option(name: .customLong("vary"), help: ArgumentHelp("A field to vary: path=lo:hi, path=a,b,c or path=start:stop:step (repeatable).", valueName: "path=range"))
    var vary: [String] = []
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field for every evaluation (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Points of the first scan of a continuous interval.") var scan: Int = 9
    @Option(help: "Stop root finding and minimisation at this fraction of the interval.") var tolerance: Double = 1e-3
    @Option(help: "table or json.") var format: OutputFormat = .table
    @Option(help: "Also write tune.json into this folder.") var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            let obj = try objective.map(Objective.parse)
            let cons = try constraints.map { try MetricConstraint.parse($0) }
            var tgt: (String, Double)?
            if let t = target {
                guard let eq = t.firstIndex(of: "="), let v = Double(t[t.index(after: eq)...]), v.isFinite else {
                    throw HandoffError.input("expected KEY=VALUE with a number, e.g. offload.token_fraction=0.05", field: "--target \(t)")
                }
                tgt = (String(t[..<eq]), v)
            }
            guard format != .csv else { throw HandoffError.input("expected table or json", field: "--format") }
            if let out { try output.directory(out, "--out", inputs: [scenario], ownNames: ["tune.json"], inPlace: true) }
            guard scan >= 3 else { throw HandoffError.input("expected ≥ 3", field: "--scan") }
            guard tolerance > 0, tolerance < 1 else { throw HandoffError.input("expected a fraction in (0, 1)", field: "--tolerance") }
            var spec = TuneSpec(objective: obj, constraints: cons, target: tgt, axes: try vary.map(TuneAxis.parse))
            spec.scanPoints = scan
            spec.relativeTolerance = tolerance
            let tuner = Tuner(family: try ScenarioFamily(path: scenario, overrides: overrides), spec: spec)
            let r = try tuner.run()
            let json = tuner.json(r)
            if let out { try writeJSON(json, to: out, name: "tune.json") }
            let infeasible = tgt == nil && r.best?.feasible != true
            if format == .json { emit(JSONWriter.write(json, pretty: true) + "\n"); if infeasible { throw ExitCode(1) }; return }
            var s = "tune \(tuner.family.origin): \(obj.map { $0.description } ?? "target \(tgt!.0) = \(JSONWriter.number(tgt!.1))")"
            if !cons.isEmpty { s += " subject to " + cons.map(\.description).joined(separator: ", ") }
            s += "\n\(r.method); \(r.simulations) simulations\n"
            if let n = r.note { s += "note: \(n)\n" }
            if let b = r.best {
                s += (b.feasible || tgt != nil ? "best: " : "NOT FEASIBLE, least bad: ") + b.config.map { "\($0.path)=\($0.value)" }.joined(separator: " ") + "\n"
                var keys = cons.map(\.key)
                if let o = obj { keys.insert(o.key, at: 0) }
                if let t = tgt { keys.insert(t.0, at: 0) }
                for k in ["cost_usd.per_1k_requests", "latency_ms.e2el.p99", "latency_ms.ttft.p99", "accuracy.predicted", "offload.token_fraction"] where !keys.contains(k) { keys.append(k) }
                for k in keys { s += "  \(k.padding(toLength: 28, withPad: " ", startingAt: 0)) \(fmt(b.summary.number(at: k)))\n" }
            }
            emit(s)
            if infeasible { throw ExitCode(1) }
        }
    }
}

struct CapacityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capacity",
        abstract: "The fewest replicas (and cheapest GPU types) per tier that meet SLOs at an arrival rate.",
        discussion: """
        --slo KEY<=BOUND (repeatable; any summary key, e.g. 'latency_ms.ttft.p99<=2000'). --gpus TIER=A,B,C \
        lists candidate GPU types for a tier: every combination is sized and the cheapest in $/hour wins. \
        Prints GPUs, $/hour and utilisation per tier, and the headroom: the highest rate the plan sustains. \
        A plan with failed or rejected requests never meets the SLOs. Output keys: docs/tuning.md.
        Example: handoff capacity --rate 2/s --slo 'latency_ms.ttft.p99<=2000' --gpus large=H100-SXM-80GB,A100-SXM-80GB
        """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(help: ArgumentHelp("Arrival rate: N/s, N/min or N/h.", valueName: "rate")) var rate: String
    @Option(name: .customLong("slo"), help: ArgumentHelp("A service-level bound: KEY<=VALUE (repeatable).", valueName: "bound"))
    var slos: [String] = []
    @Option(name: .customLong("gpus"), help: ArgumentHelp("Candidate GPU types for a tier (repeatable).", valueName: "tier=A,B"))
    var gpus: [String] = []
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Largest replica count tried per tier.") var maxReplicas: Int = 512
    @Option(help: "table or json.") var format: OutputFormat = .table
    @Option(help: "Also write capacity.json into this folder.") var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            var choices: [String: [String]] = [:]
            for g in gpus {
                guard let eq = g.firstIndex(of: "=") else { throw HandoffError.input("expected tier=GPU1,GPU2", field: "--gpus \(g)") }
                let names = g[g.index(after: eq)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }) else { throw HandoffError.input("no GPU types listed", field: "--gpus \(g)") }
                choices[String(g[..<eq]), default: []] += names
            }
            guard maxReplicas >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--max-replicas") }
            if let out { try output.directory(out, "--out", inputs: [scenario], ownNames: ["capacity.json"], inPlace: true) }
            guard format != .csv else { throw HandoffError.input("expected table or json", field: "--format") }
            let planner = try CapacityPlanner(family: try ScenarioFamily(path: scenario, overrides: overrides),
                                              rateRps: try CapacityPlanner.parseRate(rate), slos: try slos.map { try MetricConstraint.parse($0, field: "--slo") },
                                              gpuChoices: choices)
            planner.maxReplicas = maxReplicas
            let progress = Progress("capacity")
            planner.progress = { progress.note($0) }
            let started = Date()
            let r = try planner.run()
            progress.finish()
            let json = planner.json(r)
            if let out { try writeJSON(json, to: out, name: "capacity.json") }
            if format == .json { emit(JSONWriter.write(json, pretty: true) + "\n"); if r.plan == nil { throw ExitCode(1) }; return }
            var s = "capacity \(planner.family.origin) at \(JSONWriter.number(planner.rateRps)) req/s, SLO \(planner.slos.map(\.description).joined(separator: ", "))\n"
            guard let p = r.plan, let sum = r.summary else {
                s += "no plan up to \(maxReplicas) replicas per tier meets the SLO\n"
                emit(s)
                throw ExitCode(1)
            }
            s += "tier      gpu                 replicas  gpus  utilisation\n"
            for (k, t) in r.tiers.enumerated() {
                s += t.padding(toLength: 10, withPad: " ", startingAt: 0) + p.gpus[k].padding(toLength: 20, withPad: " ", startingAt: 0)
                s += String(format: "%8d  %4d  %10.0f%%\n", p.replicas[k], p.replicas[k] * planner.tensorParallel[k], 100 * (sum.number(at: "utilization.\(t)") ?? 0))
            }
            s += String(format: "total: %d GPUs, $%.2f/hour\n", r.gpuCount, r.usdPerHour)
            for c in planner.slos { s += "  \(c.key) = \(fmt(sum.number(at: c.key))) (bound \(JSONWriter.number(c.bound)))\n" }
            if let h = r.headroomRps { s += String(format: "headroom: the plan meets the SLO up to %.4g req/s (%.2f× the rate)\n", h, h / planner.rateRps) }
            if r.candidates.count > 1 {
                s += "GPU combinations:\n"
                for c in r.candidates {
                    s += "  \(c.gpus.joined(separator: "/")): " + (c.replicas.map { "\($0.map(String.init).joined(separator: "/")) replicas, $\(String(format: "%.2f", c.usdPerHour!))/hour" } ?? "no plan") + "\n"
                }
            }
            s += String(format: "%d simulations in %.1f s\n", r.simulations, Date().timeIntervalSince(started))
            emit(s)
        }
    }
}

struct WhatIfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whatif",
        abstract: "Deltas of throughput, latency, cost and accuracy against the baseline when fields change.",
        discussion: """
        Each --vary names a scenario field and its values (a list or start:stop:step); every combination is \
        simulated with the baseline's seed, so a delta is the effect of the change. --metric replaces the \
        default metrics (throughput, TTFT and E2EL p99, cost per 1k and total, accuracy, offload share, \
        failures) with summary keys of your choice. Output keys: docs/tuning.md.
        Example: handoff whatif --vary 'tiers.large.cost.usd_per_gpu_hour=2,3,4' --vary 'network.rtt_ms=10,40,120'
        """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(name: .customLong("vary"), help: ArgumentHelp("A field and its values: path=a,b,c or path=start:stop:step (repeatable).", valueName: "path=values"))
    var vary: [String] = []
    @Option(name: .customLong("metric"), help: ArgumentHelp("A summary key to report (repeatable; default: a budget set).", valueName: "key"))
    var metrics: [String] = []
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field for the baseline and every variant (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Configurations simulated at once (default: all cores).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "table, json or csv.") var format: OutputFormat = .table
    @Option(help: "Also write whatif.json into this folder.") var out: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            guard !vary.isEmpty else { throw HandoffError.input("give at least one --vary path=values") }
            guard jobs >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--jobs") }
            if let out { try output.directory(out, "--out", inputs: [scenario], ownNames: ["whatif.json"], inPlace: true) }
            let grid = try Grid(try vary.map { s in
                do { return try GridAxis.parse(s) } catch let e as HandoffError { throw e.with(field: "--vary \(s)") }
            })
            let w = try WhatIf(family: try ScenarioFamily(path: scenario, overrides: overrides), grid: grid,
                               metrics: metrics.isEmpty ? WhatIf.defaultMetrics : metrics)
            let (base, rows) = try w.run(jobs: jobs)
            let json = w.json(baseline: base, rows: rows)
            if let out { try writeJSON(json, to: out, name: "whatif.json") }
            switch format {
            case .json: emit(JSONWriter.write(json, pretty: true) + "\n")
            case .csv:
                var s = (grid.axes.map(\.path) + w.metrics.flatMap { [$0, $0 + ".delta", $0 + ".delta_pct"] }).map(CSV.escape).joined(separator: ",") + "\n"
                s += (grid.axes.map { _ in "baseline" } + w.metrics.flatMap { [base.number(at: $0).map(JSONWriter.number) ?? "", "0", "0"] }).joined(separator: ",") + "\n"
                for (k, r) in rows.enumerated() {
                    s += (grid.configuration(k).map { CSV.escape($0.value) } + w.metrics.flatMap { m -> [String] in
                        let d = WhatIf.delta(m, of: r, against: base)
                        return [d.value, d.delta, d.percent].map { $0.map(JSONWriter.number) ?? "" }
                    }).joined(separator: ",") + "\n"
                }
                emit(s)
            case .table:
                let cols = w.metrics
                var s = "whatif \(w.family.origin): \(rows.count) variants against the baseline (same seed)\n"
                let head = grid.axes.map { $0.path.split(separator: ".").suffix(2).joined(separator: ".") }
                    + cols.map { $0.replacingOccurrences(of: "latency_ms.", with: "").replacingOccurrences(of: "cost_usd.", with: "$") }
                let widths = head.map { max(14, min(24, $0.count + 2)) }
                func line(_ cells: [String]) -> String { zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined() + "\n" }
                s += line(head)
                s += line(grid.axes.map { _ in "baseline" } + cols.map { fmt(base.number(at: $0)) })
                for (k, r) in rows.enumerated() {
                    s += line(grid.configuration(k).map(\.value) + cols.map { m -> String in
                        let d = WhatIf.delta(m, of: r, against: base)
                        guard let delta = d.delta else { return "—" }
                        if delta == 0 { return "=" }
                        return d.percent.map { String(format: "%+.1f%%", $0) } ?? String(format: "%+.4g", delta)
                    })
                }
                s += "(variants show the change against the baseline row: % of the baseline, or the difference when it is 0)\n"
                emit(s)
            }
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a design-review report (index.html with inline SVG, report.md) for a scenario and its threshold.",
        discussion: """
        Simulates the scenario (the baseline) and every offload threshold of --thresholds, then writes \
        OUT/NAME/index.html (self-contained, opens offline), report.md and its .svg charts, thresholds.csv and \
        summary.json: threshold → accuracy, p99 latency, cost and offload curves; latency CDFs; the Pareto \
        scatter; memory per tier against capacity; the scenario in full.
        """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(help: "Report name: the folder under --out (default: the scenario's name).") var name: String?
    @Option(help: "Parent folder of the report.") var out: String = "Reports"
    @Option(help: ArgumentHelp("Offload thresholds: a list or start:stop:step.", valueName: "values")) var thresholds: String = "0:1:0.05"
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Simulations at once (default: all cores).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            let axis: GridAxis
            do { axis = try GridAxis.parse("policy.offload_threshold=\(thresholds)") } catch let e as HandoffError { throw e.with(field: "--thresholds") }
            guard jobs >= 1 else { throw HandoffError.input("expected ≥ 1", field: "--jobs") }
            let family = try ScenarioFamily(path: scenario, overrides: overrides)
            let reportName = try name ?? family.scenario().name
            guard !reportName.isEmpty, !reportName.contains("/"), reportName != ".", reportName != ".." else {
                throw HandoffError.input("'\(reportName)' is not a folder name", field: "--name")
            }
            let dir = out + "/" + reportName
            // The .svg charts are named by the report; the other files are fixed.
            try output.directory(dir, "--out", inputs: [scenario], ownNames: ThresholdReport.fileNames)
            let r = try ThresholdReport.build(family: family, name: reportName, thresholds: axis.values, jobs: jobs)
            try r.write(to: dir)
            emit("report → \(dir)/index.html, report.md (\(r.results.count) thresholds + baseline, \(family.simulations) simulations)\n")
        }
    }
}
