import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// One request run for real under a policy: what the client measured, and the realised token
/// stream (which tier generated each token, the small model's difficulty where it was scored).
public struct MeasuredRequest: Sendable {
    public var index: Int
    /// Which pass over the sample (`--repeats`), from 0.
    public var repeat_: Int = 0
    public var id: String
    /// Run segment (a resumed run starts a new one) and start time within it, seconds.
    public var epoch: Int
    public var startS: Double
    public var ttftS: Double
    public var e2elS: Double
    public var promptTokens: Int
    /// Realised stream (see `Validator`): difficulty per output token.
    public var difficulty: [Float]
    public var outputTokens: Int { difficulty.count }
    public var largeTokens: Int
    public var handoffs: Int
    /// Small-model tokens generated and thrown away because they crossed the threshold.
    public var discardedTokens: Int
    public var text: String
    public var correct: Bool?
    /// The servers' own timings of every call (tier, cache_n, prompt_n, prompt_ms, predicted_n, predicted_ms).
    public var calls: [JSONValue] = []

    var json: JSONValue {
        var o: [(String, JSONValue)] = [
            ("index", .number(Double(index))), ("repeat", .number(Double(repeat_))), ("id", .string(id)),
            ("epoch", .number(Double(epoch))),
            ("start_s", .number(startS)), ("ttft_s", .number(ttftS)), ("e2el_s", .number(e2elS)),
            ("prompt_tokens", .number(Double(promptTokens))), ("large_tokens", .number(Double(largeTokens))),
            ("handoffs", .number(Double(handoffs))), ("discarded_tokens", .number(Double(discardedTokens))),
            ("text", .string(text)), ("difficulty", .numbers(difficulty.map { Double($0) }))
        ]
        if let correct { o.append(("correct", .bool(correct))) }
        if !calls.isEmpty { o.append(("calls", .array(calls))) }
        return .object(o)
    }

    init(
        index: Int, id: String, epoch: Int, startS: Double, ttftS: Double, e2elS: Double, promptTokens: Int,
        difficulty: [Float],
        largeTokens: Int, handoffs: Int, discardedTokens: Int, text: String, correct: Bool?
    ) {
        self.index = index
        self.id = id
        self.epoch = epoch
        self.startS = startS
        self.ttftS = ttftS
        self.e2elS = e2elS
        self.promptTokens = promptTokens
        self.difficulty = difficulty
        self.largeTokens = largeTokens
        self.handoffs = handoffs
        self.discardedTokens = discardedTokens
        self.text = text
        self.correct = correct
    }

    init?(_ v: JSONValue) {
        func num(_ k: String) -> Double? {
            if case .number(let x)? = v[k] { return x }
            return nil
        }
        guard let index = num("index"), case .string(let id)? = v["id"], let epoch = num("epoch"),
            let start = num("start_s"),
            let ttft = num("ttft_s"), let e2el = num("e2el_s"), let pt = num("prompt_tokens"),
            let lt = num("large_tokens"),
            let h = num("handoffs"), let dt = num("discarded_tokens"), case .string(let text)? = v["text"]
        else { return nil }
        var d: [Float] = []
        switch v["difficulty"] {
        case .numbers(let xs)?: d = xs.map { Float($0) }
        default: return nil
        }
        var correct: Bool?
        if case .bool(let b)? = v["correct"] { correct = b }
        var calls: [JSONValue] = []
        if case .array(let a)? = v["calls"] { calls = a }
        self.init(
            index: Int(index), id: id, epoch: Int(epoch), startS: start, ttftS: ttft, e2elS: e2el,
            promptTokens: Int(pt),
            difficulty: d, largeTokens: Int(lt), handoffs: Int(h), discardedTokens: Int(dt), text: text,
            correct: correct)
        self.calls = calls
        if case .number(let x)? = v["repeat"] { repeat_ = Int(x) }
    }
}

/// `handoff validate`: runs a scenario's policy for real on a sample of a recorded trace, then
/// simulates the same requests with the same arrival times and compares, metric by metric.
///
/// Real execution, per request (greedy decoding; with `lengths: .recorded` each request's output
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
    /// What runs for real (checked to exist before anything runs).
    var live: LivePlan? { scenario.policy.live }
    /// The tier a single-tier run uses, or nil for a two-tier policy.
    var aloneTier: String? {
        if case .alone(let t)? = live { return t }
        return nil
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
        guard live != nil else {
            throw HandoffError.input(
                "validate runs small-only, large-only and splitreason; a '\(policyName)' request runs as one of the first two (validate those)",
                field: "policy.name")
        }
        if let sr = scenario.policy as? SplitReasonPolicy, sr.mode != .sequential {
            throw HandoffError.input(
                "validate runs splitreason in sequential mode only; set policy.mode=sequential", field: "policy.mode")
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

    /// Runs request `r` for real.
    func execute(_ r: Int, epoch: Int, start: Double, worker: Int) async throws -> MeasuredRequest {
        let q = trace.requests[r]
        let natural = lengths == .natural
        let budget = natural ? maxTokens : trace.outputTokens(r)
        let prompt = q.prompt!
        // Prompts are formatted (llama.cpp /apply-template) before the clock starts: a deployment
        // formats them in the frontend, not on the model server's time.
        var formatted: [String: String] = [:]
        for tier in aloneTier.map({ [$0] }) ?? ["small", "large"] {
            formatted[tier] = try await PromptTemplate(rawValue: spec(tier).template)!.format(
                prompt, client: try client(tier))
        }
        var run = LiveRun(
            t0: Monotonic.now(), promptTokens: q.promptTokens, budget: budget, natural: natural, worker: worker)
        switch live {
        case .alone(let tier)?: try await runAlone(on: tier, formatted: formatted, &run)
        case .splitReason(let sr)?: try await runSplitReason(sr, formatted: formatted, &run)
        case nil:
            throw HandoffError.input(
                "validate runs small-only, large-only and splitreason; the scenario's policy is \(policyName)",
                field: "policy.name")
        }
        let end = Monotonic.now()
        let correct = q.answer.map { PromptSet.isCorrect(output: run.text, reference: $0) }
        var m = MeasuredRequest(
            index: r, id: q.id, epoch: epoch, startS: start, ttftS: run.first ?? (end - run.t0), e2elS: end - run.t0,
            promptTokens: run.promptTokens, difficulty: run.d, largeTokens: run.largeTokens, handoffs: run.handoffs,
            discardedTokens: run.discarded, text: run.text, correct: correct)
        m.calls = run.calls
        return m
    }

    /// What one request's live run has produced so far.
    struct LiveRun {
        let t0: Double
        var promptTokens: Int
        let budget: Int
        let natural: Bool
        let worker: Int
        var first: Double?
        var d: [Float] = []
        var text = ""
        var largeTokens = 0, handoffs = 0, discarded = 0
        var calls: [JSONValue] = []

        init(t0: Double, promptTokens: Int, budget: Int, natural: Bool, worker: Int) {
            self.t0 = t0
            self.promptTokens = promptTokens
            self.budget = budget
            self.natural = natural
            self.worker = worker
        }

        /// Notes a call's first token (the request's, if it is the first) and its server timings.
        mutating func stamp(_ res: CompletionResult, sentAt: Double, tier: String = "") {
            if first == nil, let t = res.tokens.first?.at { first = sentAt + t - t0 }
            if let t = res.timings, case .object(var o) = t.json {
                o.insert(("tier", .string(tier)), at: 0)
                o.append(("wall_ms", .number(round3(res.duration * 1000))))
                calls.append(.object(o))
            }
        }

        /// The prompt's token count as the server counted it (cached prefix included).
        mutating func countPrompt(_ res: CompletionResult) {
            if let t = res.timings {
                promptTokens = t.promptTokens + t.cachedTokens
            } else if let p = res.promptTokens {
                promptTokens = p
            }
        }
    }

    /// `small-only` / `large-only`: one streamed completion on `tier`.
    func runAlone(on tier: String, formatted: [String: String], _ run: inout LiveRun) async throws {
        let c = try client(tier)
        let s = spec(tier)
        var req = CompletionRequest(
            prompt: formatted[tier]!, maxTokens: run.budget,
            topLogprobs: tier == "small" ? s.topLogprobs : 0, ignoreEOS: s.ignoreEOS && !run.natural)
        req.temperature = 0
        req.cachePrompt = false  // no prefix shared across requests, as the simulator assumes
        req.slot = s.pinSlots ? run.worker : nil
        let sent = Monotonic.now()
        let res = try await c.complete(req)
        run.stamp(res, sentAt: sent, tier: tier)
        run.text = res.text
        run.d = res.tokens.map { Float($0.difficulty ?? 0) }
        if tier == "large" {
            run.largeTokens = res.tokens.count
            run.d = [Float](repeating: 1, count: res.tokens.count)
        }
        run.countPrompt(res)
    }

    /// `splitreason` (sequential), live: stream the small model until a token's difficulty
    /// exceeds the threshold, drop that token, let the large model generate `min_segment_tokens`
    /// from there, resume the small model.
    func runSplitReason(_ sr: SplitReasonPolicy, formatted: [String: String], _ run: inout LiveRun) async throws {
        let small = try client("small")
        let large = try client("large")
        let ss = spec("small")
        let ls = spec("large")
        let smallPrefix = formatted["small"]!
        let largePrefix = formatted["large"]!
        let threshold = sr.offloadThreshold
        let segment = sr.minSegmentTokens
        let natural = run.natural
        let budget = run.budget
        var firstCall = true
        var firstLargeCall = true
        var largeCalls = 0
        var pendingHard: Float?
        var endedOnLarge = false
        var produced = 0  // output tokens (kept small + large)
        while produced < budget {
            if let hard = pendingHard {
                // The large model generates the segment, starting at the hard position.
                var req = CompletionRequest(
                    prompt: largePrefix + run.text, maxTokens: min(segment, budget - produced),
                    ignoreEOS: ls.ignoreEOS && !natural)
                req.temperature = 0
                // Reuse this request's own context on the tier, never another request's.
                req.cachePrompt = !firstLargeCall
                req.slot = ls.pinSlots ? run.worker : nil
                firstLargeCall = false
                let sent = Monotonic.now()
                let res = try await large.complete(req)
                run.stamp(res, sentAt: sent, tier: "large")
                pendingHard = nil
                largeCalls += 1
                if res.tokens.isEmpty { break }
                run.text += res.text
                run.largeTokens += res.tokens.count
                produced += res.tokens.count
                run.d.append(hard)
                run.d += [Float](repeating: 1, count: res.tokens.count - 1)
                endedOnLarge = true
                // The large model ended the answer (end of sequence before its segment was done).
                if natural && res.finishReason == "stop" { break }
                continue
            }
            var req = CompletionRequest(
                prompt: smallPrefix + run.text, maxTokens: budget - produced, topLogprobs: ss.topLogprobs,
                ignoreEOS: ss.ignoreEOS && !natural)
            req.temperature = 0
            req.cachePrompt = !firstCall
            req.slot = ss.pinSlots ? run.worker : nil
            let crossed = Flag()
            let sent = Monotonic.now()
            let res = try await small.complete(req) { tok, _ in
                if (tok.difficulty ?? 0) > threshold {
                    crossed.set(Float(tok.difficulty!))
                    return false
                }
                return true
            }
            if firstCall {
                run.countPrompt(res)
                firstCall = false
            }
            var kept = res.tokens
            if let hard = crossed.value {
                kept.removeLast()
                run.discarded += 1
                pendingHard = hard
            }
            var shown = res
            shown.tokens = kept
            run.stamp(shown, sentAt: sent, tier: "small")
            run.text += kept.map(\.text).joined()
            produced += kept.count
            run.d += kept.map { Float($0.difficulty ?? 0) }
            if !kept.isEmpty { endedOnLarge = false }
            if pendingHard == nil { break }  // the small model finished (EOS or budget)
        }
        // Control transfers, counted as the simulator does: to the large model and back for
        // every large call, except the return after a stream that ends on the large model.
        run.handoffs = 2 * largeCalls - (endedOnLarge ? 1 : 0)
    }
}

/// Hands out request indices to the workers in order.
actor WorkQueue {
    var items: [Int]
    var i = 0
    init(_ items: [Int]) { self.items = items }
    func next() -> Int? {
        guard i < items.count else { return nil }
        defer { i += 1 }
        return items[i]
    }
}

/// Appends finished samples to the journal, one writer at a time, and keeps them.
actor Counter {
    var value: Int
    var fresh: [MeasuredRequest] = []
    init(_ v: Int) { value = v }
    func append(_ m: MeasuredRequest, to h: FileHandle) {
        h.write(Data((JSONWriter.write(m.json) + "\n").utf8))
        fresh.append(m)
        value += 1
    }
}

/// A value set from the delegate queue and read after the stream ends.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var v: Float?
    func set(_ x: Float) {
        lock.lock()
        v = x
        lock.unlock()
    }
    var value: Float? {
        lock.lock()
        defer { lock.unlock() }
        return v
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
            scenario.tiers.first { $0.name == (aloneTier ?? "small") }?.model.name ?? ""
        let meta = VLLMBenchResult.Metadata(
            requestRate: nil, burstiness: 1, maxConcurrency: concurrency, modelID: model,
            origin: .object([
                ("measured_by", .string("handoff validate")), ("scenario", .string(scenario.name)),
                ("policy", .string(policyName))
            ]))
        return VLLMBenchResult.json(requests, duration: duration, metadata: meta, detailed: true)
    }
}
