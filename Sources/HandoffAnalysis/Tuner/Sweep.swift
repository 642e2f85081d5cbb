import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// One finished configuration of a sweep.
public struct SweepRow: Sendable {
    public var index: Int
    public var config: [(path: String, value: String)]
    public var summary: JSONValue

    var json: JSONValue {
        .object([
            ("index", .number(Double(index))), ("config", .object(config.map { ($0.path, .string($0.value)) })),
            ("summary", summary)
        ])
    }

    init(index: Int, config: [(path: String, value: String)], summary: JSONValue) {
        self.index = index
        self.config = config
        self.summary = summary
    }

    init?(_ v: JSONValue) {
        guard case .number(let i)? = v["index"], case .object(let c)? = v["config"], let s = v["summary"] else {
            return nil
        }
        var config: [(String, String)] = []
        for (k, x) in c {
            guard case .string(let s) = x else { return nil }
            config.append((k, s))
        }
        self.init(index: Int(i), config: config, summary: s)
    }
}

/// `handoff sweep`: every configuration of a grid over one scenario, on all cores.
///
/// Deterministic: configuration k is fixed by the grid (first axis slowest); its seed is the
/// scenario's (common random numbers: every configuration sees the same arrivals and trace, the
/// usual variance reduction when configurations are compared), or with `seedPerConfig` a hash of
/// the scenario seed and the configuration's overrides — either way independent of scheduling.
/// Finished configurations are appended to `results.jsonl` (the journal) as they complete; a
/// rerun after an interruption (even SIGKILL) skips them and ends with the same files.
/// `results.csv` and `results.json` are written at the end, sorted by configuration, with the
/// Pareto frontier over accuracy (max), p99 end-to-end latency (min) and cost per 1k requests (min).
public final class Sweep: @unchecked Sendable {
    public let grid: Grid
    public let shard: Shard
    public let outDir: String
    public let seedPerConfig: Bool
    let family: ScenarioFamily
    public var baseOverrides: [String] { family.baseOverrides }

    public init(
        scenarioPath: String?, baseOverrides: [String], grid: Grid, shard: Shard = .whole, outDir: String,
        seedPerConfig: Bool = false
    ) throws {
        self.grid = grid
        self.shard = shard
        self.outDir = outDir
        self.seedPerConfig = seedPerConfig
        family = try ScenarioFamily(path: scenarioPath, overrides: baseOverrides)
    }

    /// Configuration k's overrides and, with `seedPerConfig`, its seed: FNV-1a over
    /// "seed|path=value|…" of the scenario seed and the overrides.
    func variant(_ k: Int) -> (overrides: [String], seed: ((Scenario) -> UInt64)?) {
        let overrides = grid.configuration(k).map { "\($0.path)=\($0.value)" }
        guard seedPerConfig else { return (overrides, nil) }
        return (
            overrides,
            { s in
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for b in ("\(s.seed)|" + overrides.joined(separator: "|")).utf8 {
                    h = (h ^ UInt64(b)) &* 0x100_0000_01b3
                }
                return h >> 1
            }
        )
    }

    /// The scenario of configuration k.
    public func scenario(_ k: Int) throws -> Scenario {
        let v = variant(k)
        return try family.scenario(v.overrides, seed: v.seed)
    }

    /// The files a sweep writes in its folder.
    public static let fileNames: Set<String> = ["results.jsonl", "results.csv", "results.json"]

    /// Checks every value of every axis (with the other axes at their first value), and loads the
    /// first configuration's trace, before anything is written.
    public func validate() throws {
        guard grid.count >= 1 else { throw HandoffError.input("the grid is empty", field: "--grid") }
        var stride = grid.count
        for a in grid.axes {
            stride /= a.values.count
            for v in 0..<a.values.count { _ = try scenario(v * stride) }
        }
        try family.loadTrace(variant(0).overrides)
    }

    public var header: JSONValue {
        .object([
            (
                "sweep",
                .object([
                    ("scenario", .string(family.origin)), ("set", .array(baseOverrides.map { .string($0) })),
                    ("grid", grid.json),
                    ("seed_per_config", .bool(seedPerConfig)), ("shard", .string("\(shard.index)/\(shard.count)"))
                ])
            )
        ])
    }

    /// Runs the shard's configurations not yet in the journal, `jobs` at a time.
    public func run(jobs: Int, progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) throws -> [SweepRow] {
        try validate()
        try FileIO.prepareOutputDirectory(outDir, argument: "--out", force: true, ownNames: Self.fileNames)
        let path = outDir + "/results.jsonl"
        let headerLine = JSONWriter.write(header)
        var done = try Journal.read(path: path, header: headerLine, index: { SweepRow($0)?.index }).map {
            SweepRow($0)!
        }
        let doneSet = Set(done.map(\.index))
        let mine = (0..<grid.count).filter { shard.contains($0) }
        let todo = mine.filter { !doneSet.contains($0) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        log.seekToEndOfFile()
        defer { try? log.close() }

        var finished = done.count
        GSL.configure()
        done += try Parallel.map(
            todo.count, jobs: jobs,
            { i in
                let k = todo[i]
                let v = self.variant(k)
                let r = try self.family.run(v.overrides, seed: v.seed)
                return SweepRow(index: k, config: self.grid.configuration(k), summary: r.summary)
            },
            completed: { _, row in
                log.write(Data((JSONWriter.write(row.json) + "\n").utf8))
                finished += 1
                progress(finished, mine.count)
            })
        done.sort { $0.index < $1.index }
        // The journal, now complete, is rewritten in configuration order: its bytes no longer
        // depend on which worker finished first (and equal `merge`'s for the same sweep).
        try FileIO.writeAtomically(
            ([headerLine] + done.map { JSONWriter.write($0.json) }).joined(separator: "\n") + "\n", to: path)
        try SweepOutput.write(done, grid: grid, to: outDir)
        return done
    }
}

/// `results.csv` / `results.json` of a sweep, and `handoff merge`.
public enum SweepOutput {
    public static let paretoObjectives: [(key: String, sense: Pareto.Sense)] = [
        ("accuracy.predicted", .maximize), ("latency_ms.e2el.p99", .minimize), ("cost_usd.per_1k_requests", .minimize)
    ]

    /// Pareto marking of summaries over `paretoObjectives`, with ties within
    /// `Pareto.defaultTolerance` (0.5%: a cost flat to the fourth digit is not a trade-off). A
    /// configuration that did not serve every request (failed or rejected) is never on the
    /// frontier: its percentiles cover only the requests it kept, so it would look better than it
    /// is. Nor is one that is overloaded or too short (`stability.state`): its percentiles depend
    /// on the run's length.
    public static func frontier(_ summaries: [JSONValue], tolerance: Double = Pareto.defaultTolerance) -> [Bool] {
        Pareto.frontier(
            summaries.map { s in
                SummaryKeys.servedAll(s) && SummaryKeys.steady(s)
                    ? paretoObjectives.map { s.number(at: $0.key) } : paretoObjectives.map { _ in nil }
            }, senses: paretoObjectives.map(\.sense), tolerance: tolerance)
    }

    /// Writes both files atomically. Identical rows give identical bytes, however they were run.
    public static func write(_ rows: [SweepRow], grid: Grid, to dir: String) throws {
        let pareto = frontier(rows.map(\.summary))
        var keys: [String] = []
        var seen = Set<String>()
        let flat = rows.map { SimulationOutput.flatten($0.summary) }
        for f in flat { for (k, _) in f where seen.insert(k).inserted { keys.append(k) } }
        var csv = (["index"] + grid.axes.map(\.path) + keys + ["pareto"]).map(CSV.escape).joined(separator: ",") + "\n"
        for (i, r) in rows.enumerated() {
            let d = Dictionary(flat[i], uniquingKeysWith: { a, _ in a })
            csv +=
                ([String(r.index)] + r.config.map(\.value) + keys.map { d[$0] ?? "" } + [pareto[i] ? "true" : "false"])
                .map(CSV.escape).joined(separator: ",") + "\n"
        }
        let json = JSONValue.object([
            ("grid", grid.json),
            (
                "pareto_objectives",
                .array(paretoObjectives.map { .string(($0.sense == .maximize ? "max " : "min ") + $0.key) })
            ),
            (
                "results",
                .array(
                    rows.enumerated().map { i, r in
                        .object([
                            ("index", .number(Double(r.index))),
                            ("config", .object(r.config.map { ($0.path, .string($0.value)) })),
                            ("pareto", .bool(pareto[i])), ("summary", r.summary)
                        ])
                    })
            )
        ])
        try FileIO.writeAtomically(csv, to: dir + "/results.csv")
        try FileIO.writeAtomically(JSONWriter.write(json, pretty: true) + "\n", to: dir + "/results.json")
    }

    /// Joins shard folders into the files one unsharded run writes. Every shard must come from
    /// the same sweep, and together they must cover every configuration exactly once.
    public static func merge(_ dirs: [String], into out: String) throws -> Int {
        var headers: [JSONValue] = []
        var rows: [Int: SweepRow] = [:]
        for d in dirs {
            let path = d + "/results.jsonl"
            let text = String(decoding: try FileIO.read(path), as: UTF8.self)
            let lines = text.split(separator: "\n")
            guard let first = lines.first, let h = try? JSONParser.parse(String(first)), h["sweep"] != nil else {
                throw HandoffError.input("not a sweep journal (no header line)", file: path, line: 1)
            }
            headers.append(h)
            for (n, l) in lines.dropFirst().enumerated() {
                guard let v = try? JSONParser.parse(String(l)), let r = SweepRow(v) else {
                    throw HandoffError.input(
                        "not a sweep result line (a shard cut short? rerun it to finish)", file: path, line: n + 2)
                }
                if rows[r.index] != nil {
                    throw HandoffError.input("configuration \(r.index) appears in two shards", file: path, line: n + 2)
                }
                rows[r.index] = r
            }
        }
        func strip(_ h: JSONValue) -> String {
            guard case .object(let o)? = h["sweep"] else { return "" }
            return JSONWriter.write(.object(o.filter { $0.0 != "shard" }))
        }
        guard let h0 = headers.first else { throw HandoffError.input("no shard folders given") }
        for (i, h) in headers.enumerated() where strip(h) != strip(h0) {
            throw HandoffError.input(
                "comes from another sweep than \(dirs[0]) (scenario, --set or grid differ)",
                file: dirs[i] + "/results.jsonl", line: 1)
        }
        guard let gridJSON = h0["sweep"]?["grid"], let grid = try Grid(json: gridJSON) else {
            throw HandoffError.input(
                "bad sweep header: expected {\"sweep\": {…, \"grid\": […]}}", file: dirs[0] + "/results.jsonl", line: 1)
        }
        let missing = (0..<grid.count).filter { rows[$0] == nil }
        if !missing.isEmpty {
            throw HandoffError.input(
                "\(missing.count) of \(grid.count) configurations are in no shard (first: \(missing.prefix(5).map(String.init).joined(separator: ", "))); run the missing shards",
                field: "SHARDS (\(dirs.joined(separator: " ")))")
        }
        try FileIO.prepareOutputDirectory(out, argument: "--out", force: true, ownNames: Sweep.fileNames)
        let sorted = (0..<grid.count).map { rows[$0]! }
        // The merged journal equals an unsharded run's (header with shard 0/1, rows in order).
        var journal =
            JSONWriter.write(
                .object([
                    (
                        "sweep",
                        .object(
                            { () -> [(String, JSONValue)] in
                                guard case .object(let o)? = h0["sweep"] else { return [] }
                                return o.map { $0.0 == "shard" ? ("shard", .string("0/1")) : $0 }
                            }())
                    )
                ])) + "\n"
        for r in sorted { journal += JSONWriter.write(r.json) + "\n" }
        try FileIO.writeAtomically(journal, to: out + "/results.jsonl")
        try write(sorted, grid: grid, to: out)
        return sorted.count
    }
}
