import ArgumentParser
import Foundation
import Handoff

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Simulate every combination of a grid of scenario fields, on all cores.",
        discussion: """
            Each --grid names a scenario field and its values: a list (policy.offload_threshold=0.5,0.7,0.9; \
            tiers.large.gpu=H100-SXM-80GB,A100-SXM-80GB) or an inclusive range start:stop:step \
            (policy.offload_threshold=0.5:0.95:0.05). Configuration k is fixed by the grid (first axis slowest). \
            Every configuration uses the scenario's seed (common random numbers) unless --seed-per-config. \
            Finished configurations are appended to OUT/results.jsonl as they complete: rerun the same command \
            after an interruption and it resumes; OUT/results.csv and OUT/results.json (one row per \
            configuration with the summary keys of `simulate`, plus `pareto`) are written at the end. \
            --shard i/N runs configurations k with k mod N = i; `handoff merge` joins shard folders into the \
            files of one run (docs/sweeps.md: Slurm job arrays, Kubernetes Indexed Jobs).
            """)
    @Argument(help: "Scenario YAML (default: the embedded default scenario).") var scenario: String?
    @Option(
        name: .customLong("grid"),
        help: ArgumentHelp(
            "A swept field: path=v1,v2,… or path=start:stop:step (repeatable).", valueName: "path=values"))
    var grids: [String] = []
    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a field for every configuration (repeatable).", valueName: "path=value"))
    var overrides: [String] = []
    @Option(help: "Output folder.") var out: String = "sweep-results"
    @Option(help: "This shard of the configurations: i/N.") var shard: String = "0/1"
    @Option(help: "Configurations simulated at once (default: all cores).") var jobs: Int?
    @Flag(
        help:
            "Derive each configuration's seed from the scenario seed and its values instead of sharing the scenario seed."
    )
    var seedPerConfig = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try guarded {
            guard !grids.isEmpty else { throw HandoffError.input("give at least one --grid path=values") }
            let jobs = try jobCount(self.jobs)
            let grid = try Grid(try grids.map(GridAxis.parse))
            let sweep = try Sweep(
                scenarioPath: scenario, baseOverrides: overrides, grid: grid, shard: try Shard.parse(shard),
                outDir: out,
                seedPerConfig: seedPerConfig)
            // Checked only: `run` validates the grid and loads the trace before it creates the folder.
            try output.directory(out, "--out", inputs: [scenario], ownNames: Sweep.fileNames, inPlace: true)
            let progress = Progress("sweep")
            let rows = try sweep.run(jobs: jobs) { d, t in progress.update(d, t) }
            emit(SweepSummary.table(rows, grid: grid, out: out))
        }
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the folders of sweep shards into the files one unsharded run writes.")
    @Argument(help: "Shard output folders (each with results.jsonl).") var shards: [String]
    @Option(help: "Output folder.") var out: String
    @OptionGroup var output: OutputOptions
    func run() throws {
        try guarded {
            try output.directory(out, "--out", inputs: shards, ownNames: Sweep.fileNames, inPlace: true)
            let n = try SweepOutput.merge(shards, into: out)
            emit("merged \(shards.count) shards: \(n) configurations → \(out)/results.csv, results.json\n")
        }
    }
}

enum SweepSummary {
    static func table(_ rows: [SweepRow], grid: Grid, out: String) -> String {
        var s = "\(rows.count) configurations → \(out)/results.csv, results.json\n"
        let data = try? JSONParser.parse(
            String(decoding: (try? FileIO.read(out + "/results.json")) ?? Data(), as: UTF8.self))
        guard case .array(let results)? = data?["results"] else { return s }
        let front = results.filter { $0["pareto"] == .bool(true) }
        s += "Pareto frontier (max accuracy, min p99 E2EL, min cost per 1k requests): \(front.count) configurations\n"
        for r in front.prefix(20) {
            var cfg = ""
            if case .object(let c)? = r["config"] {
                cfg = c.map { key, value in
                    if case .string(let v) = value { return "\(key)=\(v)" }
                    return "\(key)="
                }.joined(separator: " ")
            }
            func n(_ k: String) -> String { HumanNumber.format(r["summary"]?.number(at: k)) }
            s +=
                "  #\(JSONWriter.write(r["index"] ?? .null)) \(cfg): accuracy \(n("accuracy.predicted")), p99 \(n("latency_ms.e2el.p99")) ms, $\(n("cost_usd.per_1k_requests"))/1k\n"
        }
        if front.count > 20 { s += "  … \(front.count - 20) more in results.csv (pareto = true)\n" }
        return s
    }
}
