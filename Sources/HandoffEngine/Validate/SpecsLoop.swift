import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff specs-loop`: SPECS run live over beam widths (and rejection thresholds), with the
/// baselines on the same prompts (small-only and large-only greedy, target beam search), each cell at
/// one concurrency. Every cell's requests are journaled in `OUT/runs/<cell>/samples.jsonl`: a rerun
/// resumes and asks the servers only what is missing (a larger `--sample` runs only the new prompts;
/// a smaller one reads the first of those journaled).
public struct SpecsLoop: Sendable {
    public struct CellSpec: Sendable, Hashable {
        public var arm: SpecsArm
        public var concurrency: Int
        public var name: String { "c\(concurrency)-\(arm.name)" }
        public init(arm: SpecsArm, concurrency: Int) {
            self.arm = arm
            self.concurrency = concurrency
        }
    }

    public struct Cell: Sendable {
        public var spec: CellSpec
        public var samples: [SpecsSample]
        /// Each server's speed probe, taken just before the cell ran: tier → reading.
        public var speed: [String: SpeedProbe.Reading]
        /// The fitted model's figures for this cell (set after the fit), and whether its width was held out.
        public var prediction: SpecsPrediction? = nil
        public var heldOut = false
    }

    public var runner: SpecsRunner
    public var scenario: Scenario
    /// The prompts every cell runs, with their trace indices.
    public var prompts: [(index: Int, prompt: Prompt)]
    public var cells: [CellSpec]
    public var outDir: String
    /// What `handoff specs-loop` writes in its folder (the cells' journals under `runs/`).
    public static let fileNames: Set<String> = [
        "runs", "speed.jsonl", "host-load.txt", "specs-loop.json", "specs-model.yaml", "README.md", "index.html"
    ]

    public init(
        runner: SpecsRunner, scenario: Scenario, prompts: [(index: Int, prompt: Prompt)], cells: [CellSpec],
        outDir: String
    ) {
        self.runner = runner
        self.scenario = scenario
        self.prompts = prompts
        self.cells = cells
        self.outDir = outDir
    }

    /// The journal's first line: what every line below it was run with.
    func header(_ cell: CellSpec) -> String {
        JSONWriter.write(
            .object([
                ("specs_loop", .number(1)), ("cell", .string(cell.name)),
                ("concurrency", .number(Double(cell.concurrency))), ("scorer", .string(StepJudge.name)),
                ("step_tokens", .number(Double(runner.stepTokens))), ("max_tokens", .number(Double(runner.maxTokens))),
                ("temperature", .number(runner.temperature)), ("seed", .number(Double(runner.seed)))
            ]))
    }

    /// Runs what is not journaled yet; returns every cell's samples in prompt order.
    public func run(progress: @escaping @Sendable (String) -> Void) async throws -> [Cell] {
        let before = HostLoad.Reading.now()
        var ranAny = false
        var out: [Cell] = []
        for cell in cells {
            let (samples, ran) = try await runCell(cell, progress: progress)
            ranAny = ranAny || ran
            out.append(Cell(spec: cell, samples: samples, speed: [:]))
        }
        let loadPath = outDir + "/host-load.txt"
        if ranAny, let load = HostLoad.between(before, HostLoad.Reading.now())?.summary {
            try FileIO.writeAtomically(load + "\n", to: loadPath)
        }
        let speeds = try SpeedLog.read(outDir + "/speed.jsonl")
        for k in out.indices { out[k].speed = speeds[out[k].spec.name] ?? [:] }
        return out
    }

    /// One cell: the journal's samples, then the missing prompts run by `concurrency` workers (after a
    /// speed probe of both servers). Returns the samples and whether any request ran.
    func runCell(
        _ cell: CellSpec, progress: @escaping @Sendable (String) -> Void
    ) async throws -> ([SpecsSample], Bool) {
        let dir = outDir + "/runs/" + cell.name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/samples.jsonl"
        var done: [Int: SpecsSample] = [:]
        let ids = Dictionary(prompts.map { ($0.index, $0.prompt.id) }, uniquingKeysWith: { a, _ in a })
        for v in try Journal.read(path: path, header: header(cell), index: { SpecsSample($0)?.index }) {
            guard let s = SpecsSample(v), let id = ids[s.index] else { continue }
            guard id == s.id else {
                throw HandoffError.input(
                    "\(path) has request \(s.index) as '\(s.id)', but the trace's request \(s.index) is '\(id)': the trace changed; use another --out or delete the folder")
            }
            done[s.index] = s
        }
        let todo = prompts.filter { done[$0.index] == nil }
        if !todo.isEmpty {
            let runner = try await self.runner.ready()
            progress("\(cell.name): probing the servers' speed")
            try await SpeedLog.probe(
                clients: runner.clients, scenario: scenario, roles: ["small", "large"], topLogprobs: [:],
                cell: cell.name, path: outDir + "/speed.jsonl")
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? h.close() }
            h.seekToEndOfFile()
            let sink = SpecsJournal(h, already: done.count, total: prompts.count)
            let queue = WorkQueue(todo.indices.map { $0 })
            let t0 = Monotonic.now()
            progress("\(cell.name): \(done.count)/\(prompts.count) requests")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<cell.concurrency {
                    group.addTask {
                        while let k = await queue.next() {
                            let (i, p) = todo[k]
                            let s = try await runner.run(cell.arm, prompt: p, index: i, t0: t0)
                            let d = await sink.append(s)
                            progress("\(cell.name): \(d)/\(self.prompts.count) requests")
                        }
                    }
                }
                try await group.waitForAll()
            }
            for s in await sink.fresh { done[s.index] = s }
        }
        return (prompts.compactMap { done[$0.index] }, !todo.isEmpty)
    }
}

/// Appends finished samples to a cell's journal, one writer at a time.
actor SpecsJournal {
    let handle: FileHandle
    var count: Int
    let total: Int
    var fresh: [SpecsSample] = []
    init(_ h: FileHandle, already: Int, total: Int) {
        handle = h
        count = already
        self.total = total
    }
    /// Keeps the sample as the journal holds it (times rounded to the microsecond), so a run and its
    /// resumption report the same figures.
    func append(_ s: SpecsSample) -> Int {
        let line = JSONWriter.write(s.json)
        handle.write(Data((line + "\n").utf8))
        fresh.append((try? JSONParser.parse(line)).flatMap(SpecsSample.init) ?? s)
        count += 1
        return count
    }
}
