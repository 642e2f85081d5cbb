import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff validate`: runs a scenario's policy for real on a sample of a recorded trace, then
/// simulates the same requests with the same arrival times and compares, metric by metric.
///
/// Real execution, per request, is what the policy's `LiveExecution` says, call by call
/// (`Validator+Live.swift`; greedy decoding; with `lengths: .recorded` each request's output
/// budget is its recorded length, with `.natural` the request ends at the model's end of sequence
/// or at `maxTokens`):
/// - `small-only` / `large-only`: one streamed completion on that tier's server.
/// - `splitreason` (sequential): stream the small model with top-k log-probabilities; when a
///   token's difficulty 1 − p(top-1) exceeds `offload_threshold`, stop the stream, drop that token,
///   send the prompt plus the text so far to the large model for `min_segment_tokens` tokens
///   (the live rule: the small model's difficulty of the large model's tokens is not known while
///   they are generated), append its text and resume the small model. Text, not token ids, crosses
///   tiers, so the two models need not share a vocabulary.
///
/// The simulation replays the realised token stream: small tokens carry their measured
/// difficulty; each offloaded segment starts with the crossing difficulty and its other tokens
/// carry 1; the policy is splitreason with min = max = the live segment length and one trigger
/// token (the dropped crossing token: decoded by the small model, not output). So the simulator
/// runs the segmentation and the round trips the engine ran. A second simulation runs the scenario's
/// policy on the recorded trace alone — the prediction a user makes before running anything.
///
/// Finished requests are appended to `samples.jsonl` in the output folder as they complete; a
/// rerun with the same arguments resumes after the last finished one.
public struct Validator: Sendable {
    public var scenario: Scenario
    public var trace: Trace
    public var clients: [String: OpenAIClient]
    public var sample: Int
    public var concurrency: Int
    public var outDir: String
    /// The files `validate` writes in its folder.
    public static let fileNames: Set<String> = ["samples.jsonl", "validation.json", "report.md", "vllm-bench.json"]
    /// Passes over the sample; the report compares medians over passes (the machine is shared).
    public var repeats: Int
    /// How long a request runs: `natural` ends it where the model ends it (end of sequence, or
    /// `maxTokens`), as a deployment would — the closed loop; `recorded` forces its recorded length
    /// (ignore-EOS budgets), which isolates the serving model from the trajectory.
    public var lengths: Lengths = .recorded
    /// The output cap of `natural` lengths: record the trace with the same `--max-tokens`.
    public var maxTokens = 256

    public enum Lengths: String, Sendable, CaseIterable { case natural, recorded }

    public init(
        scenario: Scenario, trace: Trace, clients: [String: OpenAIClient], sample: Int, concurrency: Int,
        outDir: String, repeats: Int = 1
    ) {
        self.scenario = scenario
        self.trace = trace
        self.clients = clients
        self.sample = sample
        self.concurrency = concurrency
        self.outDir = outDir
        self.repeats = max(1, repeats)
    }

    var policyName: String { scenario.policy.name }
    /// What runs for real: the policy's live execution (`runReal` refuses a policy without one
    /// before anything runs, with the policy's reason when it has one but not as configured).
    var live: (any LiveExecution)? { try? scenario.policy.live() }
    /// The tier a single-tier run uses, or nil for a two-tier policy.
    var aloneTier: String? {
        guard let roles = live?.roles, roles.count == 1 else { return nil }
        return scenario.policy.roles[roles[0]]
    }

    func spec(_ tier: String) -> EngineTierSpec {
        scenario.engine[tier] ?? .defaults
    }

    func client(_ tier: String) throws -> OpenAIClient {
        guard let c = clients[tier] else {
            throw HandoffError.input(
                "no server for tier '\(tier)': give --\(tier) URL or engine.\(tier).url in the scenario")
        }
        return c
    }

    /// The fields every journal header has had.
    var baseHeaderFields: [(String, JSONValue)] {
        [
            ("scenario", .string(scenario.name)), ("policy", .string(policyName)),
            ("concurrency", .number(Double(concurrency))),
            ("sample", .number(Double(sample))), ("repeats", .number(Double(repeats)))
        ]
    }

    /// The header of journals written before `--lengths` existed, when every request was forced to
    /// its recorded length: the same run as `--lengths recorded`.
    var legacyHeader: JSONValue? {
        lengths == .recorded ? .object([("validate", .object(baseHeaderFields))]) : nil
    }

    public var header: JSONValue {
        .object([
            (
                "validate",
                .object(
                    baseHeaderFields + [("lengths", .string(lengths.rawValue))]
                        + (lengths == .natural ? [("max_tokens", .number(Double(maxTokens)))] : []))
            )
        ])
    }

    /// Runs what is not on disk yet; returns every finished sample, in request order.
    /// `beforeRunning` runs once, before the first request, and only when some request is still to run.
    public func runReal(
        progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in },
        beforeRunning: (@Sendable () async throws -> Void)? = nil
    ) async throws -> [MeasuredRequest] {
        guard sample >= 1, sample <= trace.count else {
            throw HandoffError.input("--sample \(sample) is out of range: the trace has \(trace.count) requests")
        }
        for r in 0..<sample where trace.requests[r].prompt == nil {
            throw HandoffError.input(
                "trace request \(trace.requests[r].id) has no prompt text; record the trace with `handoff record`")
        }
        guard try scenario.policy.live() != nil else {
            throw HandoffError.input(
                "validate runs small-only, large-only and splitreason; a '\(policyName)' request runs as one of the first two (validate those)",
                field: "policy.name")
        }
        // Created only once the input is known good (the command checked the path, with --force).
        try FileIO.prepareOutputDirectory(outDir, argument: "--out", force: true, ownNames: Self.fileNames)
        let path = outDir + "/samples.jsonl"
        var done: [Int: MeasuredRequest] = [:]
        // A line cut short by a kill does not parse and is simply run again.
        for v in try Journal.read(
            path: path, header: JSONWriter.write(header), equivalent: legacyHeader.map { [JSONWriter.write($0)] } ?? [],
            index: { v in MeasuredRequest(v).map { $0.repeat_ * sample + $0.index } })
        {
            let m = MeasuredRequest(v)!
            done[m.repeat_ * sample + m.index] = m
        }
        let epoch = done.values.map { $0.epoch + 1 }.max() ?? 0
        let total = sample * repeats
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        log.seekToEndOfFile()
        defer { try? log.close() }
        let counter = Counter(done.count)
        if done.count < total, let beforeRunning { try await beforeRunning() }
        // Passes run one after another, so each pass is a closed-loop run of its own.
        for rep in 0..<repeats {
            let todo = (0..<sample).filter { done[rep * sample + $0] == nil }
            if todo.isEmpty { continue }
            let queue = WorkQueue(todo)
            let t0 = Monotonic.now()
            let ep = epoch
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<max(1, concurrency) {
                    group.addTask {
                        while let r = await queue.next() {
                            let start = Monotonic.now() - t0
                            var m: MeasuredRequest
                            do { m = try await self.execute(r, epoch: ep, start: start, worker: w) } catch {
                                let n = await counter.value
                                throw HandoffError(
                                    "request \(self.trace.requests[r].id) failed: \(error). \(n) of \(total) samples are saved in \(path); rerun the same command to resume",
                                    exitCode: 1)
                            }
                            m.repeat_ = rep
                            await counter.append(m, to: log)
                            progress(await counter.value, total)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        for m in await counter.fresh { done[m.repeat_ * sample + m.index] = m }
        return (0..<total).compactMap { done[$0] }
    }
}

extension Validator {
    /// The first pass of a real run as `vllm bench serve --save-result --save-detailed` would have
    /// written it: every request at once under `max_concurrency` = the run's concurrency
    /// (`request_rate` "inf"), in the order they were sent, over the pass's wall time. ITL
    /// statistics take each request's gaps as its mean gap (the journal keeps first and last token
    /// times), as a simulation's file does. `handoff compare` reads it.
    public func vllmBench(_ samples: [MeasuredRequest]) -> JSONValue {
        let pass = samples.filter { $0.repeat_ == 0 }.sorted { ($0.startS, $0.index) < ($1.startS, $1.index) }
        let t0 = pass.map(\.startS).min() ?? 0
        let duration = (pass.map { $0.startS + $0.e2elS }.max() ?? 0) - t0
        let requests = pass.map {
            VLLMBenchResult.Request(
                promptTokens: $0.promptTokens, outputTokens: $0.outputTokens, ttftS: $0.ttftS, e2elS: $0.e2elS)
        }
        let model =
            scenario.tiers.first { $0.name == (aloneTier ?? scenario.policy.roles[0]) }?.model.name ?? ""
        let meta = VLLMBenchResult.Metadata(
            requestRate: nil, burstiness: 1, maxConcurrency: concurrency, modelID: model,
            origin: .object([
                ("measured_by", .string("handoff validate")), ("scenario", .string(scenario.name)),
                ("policy", .string(policyName))
            ]))
        return VLLMBenchResult.json(requests, duration: duration, metadata: meta, detailed: true)
    }
}
