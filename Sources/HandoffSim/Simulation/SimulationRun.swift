import Foundation
import HandoffModel
import HandoffSupport

/// A finished simulation with its summary.
public struct SimulationResult: Sendable {
    public var scenario: Scenario
    public var outcome: SimulationOutcome
    public var accuracy: AccuracyModel.Prediction?
    /// The summary, typed, and as JSON with its stable keys (see `docs/output.md`).
    public var typedSummary: SimulationSummary
    public var summary: JSONValue

    init(
        scenario: Scenario, outcome: SimulationOutcome, accuracy: AccuracyModel.Prediction?,
        sources: SimulationSummary.Sources
    ) {
        self.scenario = scenario
        self.outcome = outcome
        self.accuracy = accuracy
        typedSummary = SimulationSummary(scenario, outcome, accuracy, sources: sources)
        summary = typedSummary.json
    }
}

/// Loads a scenario's trace and runs it: the library's one-call entry point.
public enum Simulation {
    public static func loadTrace(_ s: Scenario) throws -> Trace {
        switch s.trace {
        case .synthetic(let spec): return spec.generate()
        case .file(let path): return try TraceReader.read(path: path)
        }
    }

    /// - Parameter checkingInvariants: check the simulator's bookkeeping after every event (slow; tests).
    public static func run(
        _ scenario: Scenario, trace given: Trace? = nil, checkingInvariants: Bool = false
    ) throws -> SimulationResult {
        do {
            return try runLocated(scenario, trace: given, checkingInvariants: checkingInvariants)
        } catch let e as HandoffError {
            throw scenario.source.locate(e)
        }
    }

    static func runLocated(
        _ scenario: Scenario, trace given: Trace? = nil, checkingInvariants: Bool
    ) throws -> SimulationResult {
        let trace = try given ?? loadTrace(scenario)
        if trace.difficultySource == .none && scenario.policy.readsDifficulty {
            throw HandoffError.input(
                "policy \(scenario.policy.name) decides by token difficulty, but the trace has none (difficulty_source: none: an imported request log holds lengths and arrivals only); re-import it with --difficulty-from YOUR_RECORDED_TRACE (handoff record writes one), or with --synthetic-difficulty to explore with invented profiles (marked synthetic), or simulate a single-tier policy (small-only, large-only, single)",
                field: "trace")
        }
        if let rule = scenario.policy.crossing, let model = rule.model {
            return try runClosedLoop(scenario, rule, model, trace, checkingInvariants: checkingInvariants)
        }
        if let run = scenario.policy.specsModelRun {
            return try runSpecsModel(scenario, run, trace, checkingInvariants: checkingInvariants)
        }
        var scenario = scenario
        var sim = HybridSimulator(scenario: scenario, trace: trace)
        sim.checksInvariants = checkingInvariants
        var outcome = try sim.run()
        if scenario.simulation.coalesceTokens > 0 && outcome.requests.contains(where: \.failed) {
            // A coarse run that rejects or fails requests is at or past saturation, where the
            // handoffs it merged decide capacity: the exact run replaces it (docs/model.md).
            scenario.simulation.exactRerun = true
            var exact = scenario
            exact.simulation.coalesceTokens = 0
            sim = HybridSimulator(scenario: exact, trace: trace)
            sim.checksInvariants = checkingInvariants
            outcome = try sim.run()
        }
        let acc: AccuracyModel.Prediction?
        if scenario.policy is any AdaptivePolicy {
            // Scored on the segments that ran, which depend on the serving fields: never memoised.
            acc = AccuracyModel.predict(
                trace: trace, policy: scenario.policy, runs: ranSegments(outcome), spec: scenario.accuracy,
                seed: scenario.seed)
        } else {
            acc = staticAccuracy(scenario, trace, outcome)
        }
        let result = SimulationResult(
            scenario: scenario, outcome: outcome, accuracy: acc,
            sources: .init(trace: trace, policy: scenario.policy, accuracy: acc, closedLoop: false))
        try SummaryCheck.check(result.typedSummary, json: result.summary, scenario: scenario)
        return result
    }

    /// Every request served, in trace order (then arrival order), with the offloads refused in it.
    static func ranSegments(_ o: SimulationOutcome) -> [(request: Int, refused: [Int])] {
        var refused = [[Int]](repeating: [], count: o.requests.count)
        for x in o.refusedOffloads { refused[x.request].append(x.segment) }
        let order = o.requests.indices.sorted { (o.requests[$0].traceIndex, $0) < (o.requests[$1].traceIndex, $1) }
        return order.map { (request: o.requests[$0].traceIndex, refused: refused[$0]) }
    }

    /// A static policy's prediction: its plan of every trace request served.
    static func staticAccuracy(
        _ scenario: Scenario, _ trace: Trace, _ outcome: SimulationOutcome
    ) -> AccuracyModel.Prediction? {
        let used = Array(Set(outcome.requests.map(\.traceIndex))).sorted()
        // The prediction depends on the trace, the policy, the requests served, the accuracy spec and
        // the seed, not on the serving fields: a sweep over replicas or prices computes it once.
        let key = AccuracyKey(
            policy: JSONWriter.write(.object(scenario.policy.parameters)),
            exponent: scenario.accuracy.difficultyExponent, bootstrapSamples: scenario.accuracy.bootstrapSamples,
            verifiedDraftCredit: scenario.accuracy.verifiedDraftCredit, seed: scenario.seed, requests: used)
        return trace.memoised(key) {
            AccuracyModel.predict(
                trace: trace, policy: scenario.policy, requests: used, spec: scenario.accuracy, seed: scenario.seed)
        }
    }

}

extension SimulationSummary {
    /// The summary of outcome `o` of scenario `s` (docs/output.md). Every figure covers the
    /// requests served; an empty set reports 0, never NaN.
    public init(_ s: Scenario, _ o: SimulationOutcome, _ acc: AccuracyModel.Prediction?, sources: Sources) {
        let ok = o.requests.filter { !$0.failed }
        let duration = o.endTime
        let outTokens = ok.reduce(0) { $0 + $1.outputTokens }
        let offTokens = ok.reduce(0) { $0 + $1.offloadedTokens }
        let n = Double(max(1, ok.count))
        scenario = s.name
        policy = .object(s.policy.parameters)
        requests = ok.count
        requestsFailed = o.requests.count - ok.count
        requestsRejected = o.requests.reduce(0) { $0 + ($1.rejected ? 1 : 0) }
        durationS = duration
        throughputRps = duration > 0 ? Double(ok.count) / duration : 0
        outputTokensPerS = duration > 0 ? Double(outTokens) / duration : 0
        latencyMs = Latency(
            ttft: Self.ms(ok.map(\.ttftS)), tpot: Self.ms(ok.filter { $0.outputTokens > 1 }.map(\.tpotS)),
            e2el: Self.ms(ok.map(\.e2elS)))
        offload = Offload(
            source: sources.offload, tokenFraction: outTokens > 0 ? Double(offTokens) / Double(outTokens) : 0,
            requestFraction: Double(ok.filter { $0.offloadedTokens > 0 }.count) / n,
            handoffsPerRequest: Double(ok.reduce(0) { $0 + $1.handoffs }) / n,
            segmentsPerRequest: Double(ok.reduce(0) { $0 + $1.offloadSegments }) / n)
        let tiers = s.tiers.indices.map { Self.tier(s, o, $0) }
        memoryGib = OrderedMap(tiers.map { ($0.name, $0.memory) })
        utilization = OrderedMap(tiers.map { ($0.name, $0.utilization) })
        achieved = OrderedMap(tiers.map { ($0.name, $0.achieved) })
        preemptions = OrderedMap(o.tiers.map { ($0.name, $0.preemptions) })
        let total = tiers.reduce(0.0) { $0 + $1.cost }
        costUsd = Cost(
            total: total, per1kRequests: ok.isEmpty ? 0 : total / Double(ok.count) * 1000,
            byTier: OrderedMap(tiers.map { ($0.name, $0.cost) }))
        if let a = acc {
            accuracy = Accuracy(
                source: sources.accuracy, predicted: a.predicted, ci95: [a.ci95.0, a.ci95.1],
                labeledRequests: a.labeled,
                smallOnly: a.smallOnly, largeOnly: a.largeOnly)
        } else {
            accuracy = Accuracy(
                source: sources.accuracy, predicted: nil, ci95: nil, labeledRequests: 0, smallOnly: nil, largeOnly: nil)
        }
        slo = Self.slo(s.slo, ok, duration: duration)
        windows = Self.windows(ok, width: s.slo.windowS, overall: latencyMs)
        stability = Stability(o, closedLoop: s.traffic.arrival == .closed_loop)
        events = o.events
        seed = s.seed
        prefixCache = Self.prefixCache(o)
        offloadGate = o.gate.map {
            OffloadGate(
                proposed: $0.proposed, refused: o.refusedOffloads.count,
                refusedShare: $0.proposed > 0 ? Double(o.refusedOffloads.count) / Double($0.proposed) : 0,
                refusedTokens: $0.refusedTokens)
        }
        let scheduler = s.simulation.scheduler == .vllm ? nil : s.simulation.scheduler.rawValue
        simulation =
            s.simulation.coalesceTokens > 0 || scheduler != nil
            ? Coarse(
                coalesceTokens: s.simulation.coalesceTokens, exactRerun: s.simulation.exactRerun, scheduler: scheduler)
            : nil
        disaggregated = Self.splits(s, o)
    }

    /// Attainment of each bound set, and goodput: served requests meeting every bound set, per
    /// second of the run (and as a share of the served requests).
    static func slo(_ spec: SLOSpec, _ ok: [RequestOutcome], duration: Double) -> SLO {
        let n = Double(max(1, ok.count))
        func good(_ q: RequestOutcome) -> Bool {
            (spec.ttftMs.map { q.ttftS * 1000 <= $0 } ?? true) && (spec.tpotMs.map { q.tpotS * 1000 <= $0 } ?? true)
                && (spec.e2elMs.map { q.e2elS * 1000 <= $0 } ?? true)
        }
        let any = spec.ttftMs != nil || spec.tpotMs != nil || spec.e2elMs != nil
        let goodCount = any ? ok.reduce(0) { $0 + (good($1) ? 1 : 0) } : 0
        return SLO(
            ttftAttainment: spec.ttftMs.map { t in Double(ok.filter { $0.ttftS * 1000 <= t }.count) / n },
            tpotAttainment: spec.tpotMs.map { t in Double(ok.filter { $0.tpotS * 1000 <= t }.count) / n },
            e2elAttainment: spec.e2elMs.map { e in Double(ok.filter { $0.e2elS * 1000 <= e }.count) / n },
            goodputRps: any ? (duration > 0 ? Double(goodCount) / duration : 0) : nil,
            goodShare: any ? Double(goodCount) / n : nil)
    }

    /// The served requests grouped by arrival time into windows of `width` seconds from the first
    /// arrival; the worst p99 among windows with enough requests to have one.
    /// When no window holds enough requests, the whole run is the only window judged: the worst
    /// window's figures are the run's own p99 (never 0, which a bound would take for a pass).
    static func windows(_ ok: [RequestOutcome], width: Double, overall: Latency) -> Windows {
        let first = ok.map(\.arrivalS).min() ?? 0
        var groups: [Int: [RequestOutcome]] = [:]
        for q in ok { groups[Int((q.arrivalS - first) / width), default: []].append(q) }
        var w = Windows(
            windowS: width, count: groups.count, judged: 0, worstTtftP99Ms: 0, worstE2ELP99Ms: 0, worstE2ELStartS: 0)
        for k in groups.keys.sorted() {
            let g = groups[k]!
            guard g.count >= Windows.minRequests else { continue }
            w.judged += 1
            let ttft = Statistics.quantile(sorted: g.map { $0.ttftS * 1000 }.sorted(), 0.99)
            let e2el = Statistics.quantile(sorted: g.map { $0.e2elS * 1000 }.sorted(), 0.99)
            w.worstTtftP99Ms = max(w.worstTtftP99Ms, ttft)
            if e2el > w.worstE2ELP99Ms {
                w.worstE2ELP99Ms = e2el
                w.worstE2ELStartS = first + Double(k) * width
            }
        }
        if w.judged == 0 {
            w.worstTtftP99Ms = overall.ttft.p99
            w.worstE2ELP99Ms = overall.e2el.p99
            w.worstE2ELStartS = first
        }
        return w
    }

    /// Percentiles in milliseconds of durations in seconds; all 0 for an empty set (nothing
    /// served, or no request of two or more tokens for TPOT): `requests` says how many.
    static func ms(_ xs: [Double]) -> Percentiles {
        xs.isEmpty ? Percentiles(mean: 0, p50: 0, p90: 0, p95: 0, p99: 0) : Statistics.summary(xs.map { $0 * 1000 })
    }

    /// Tier `t`'s memory, utilization and cost. A GPU tier pays replicas × GPUs × $/GPU-hour over
    /// the run (a colocated tier nothing: its host pays); an API tier bills the tokens of the
    /// calls, holds nothing on the user's GPUs and keeps none busy (docs/output.md).
    static func tier(
        _ s: Scenario, _ o: SimulationOutcome, _ t: Int
    ) -> (
        name: String, memory: Memory, utilization: Double, achieved: Achieved, cost: Double
    ) {
        let tier = s.tiers[t]
        let to = o.tiers[t]
        let duration = o.endTime
        guard tier.kind == .gpu else {
            let inTok = o.requests.reduce(0) { $0 + $1.apiInputTokens }
            let cached = o.requests.reduce(0) { $0 + $1.apiCachedInputTokens }
            let outTok = o.requests.reduce(0) { $0 + $1.apiOutputTokens }
            let usd = tier.cost.apiUSD(input: inTok, cached: cached, output: outTok)
            let memory = Memory(
                peak: 0, capacity: 0, fits: true, weights: 0, kvPeakTokens: 0, kvCapacityTokens: 0, colocatedWith: nil,
                api: true)
            return (tier.name, memory, 0, Achieved(mfu: 0, mbu: 0), usd)
        }
        var memory: Memory
        if let pools = to.pools {
            // A split tier: the pool whose peak is the larger share of its capacity, fitting only if both do.
            let ms = zip(tier.pools, pools).map { Self.memory($0, peakKVTokens: $1.peakKVTokens) }
            memory = ms.max { $0.peak / $0.capacity < $1.peak / $1.capacity }!
            memory.fits = ms.allSatisfy(\.fits)
        } else {
            memory = Self.memory(tier, peakKVTokens: to.peakKVTokens)
        }
        let usd = tier.colocateWith != nil || !s.billsTier(tier) ? 0 : tier.usdPerHour * duration / 3600
        let utilization = duration > 0 ? to.busySeconds / (duration * Double(tier.replicas)) : 0
        // GPU-seconds times each pool's peaks (one pool unless the tier is split).
        let peakFlops = tier.pools.reduce(0.0) {
            $0 + duration * Double($1.replicas * $1.tensorParallel) * $1.gpu.peakTFLOPS($1.model.weightDtype) * 1e12
        }
        let peakBytes = tier.pools.reduce(0.0) {
            $0 + duration * Double($1.replicas * $1.tensorParallel) * $1.gpu.bandwidthGBs * 1e9
        }
        let flops = 2 * tier.model.computeParamsB * 1e9 * Double(to.prefilledTokens + to.generatedTokens)
        let bytes = Double(to.iterations) * tier.model.computeParamsB * 1e9 * tier.model.weightBytes
        let achieved =
            duration > 0 && tier.gpuCount > 0
            ? Achieved(mfu: flops / peakFlops, mbu: bytes / peakBytes) : Achieved(mfu: 0, mbu: 0)
        return (tier.name, memory, utilization, achieved, usd)
    }

    /// `prefix_cache`, only when a tier caches prompt blocks across requests: the share of prompt
    /// tokens looked up that were found cached, overall and by tier.
    static func prefixCache(_ o: SimulationOutcome) -> PrefixCache? {
        let tiers = o.tiers.filter { $0.prefixLookedUpTokens != nil }
        guard !tiers.isEmpty else { return nil }
        let byTier = tiers.map {
            (
                $0.name,
                PrefixCache(
                    hit: $0.prefixHitTokens!, lookedUp: $0.prefixLookedUpTokens!, evicted: $0.prefixEvictedBlocks!)
            )
        }
        return PrefixCache(
            hit: tiers.reduce(0) { $0 + $1.prefixHitTokens! },
            lookedUp: tiers.reduce(0) { $0 + $1.prefixLookedUpTokens! },
            evicted: tiers.reduce(0) { $0 + $1.prefixEvictedBlocks! }, byTier: OrderedMap(byTier))
    }
}

extension Scenario {
    /// Whether GPU tier `tier` is billed: the policy can serve on it (or on a tier colocated with
    /// it: a host pays for its guests), or the scenario keeps it `provisioned`.
    public func billsTier(_ tier: TierSpec) -> Bool {
        let serving = Set(policy.servingRoles.map { policy.roles[$0] })
        return tier.provisioned || serving.contains(tier.name)
            || tiers.contains { $0.colocateWith == tier.name && serving.contains($0.name) }
    }

    /// The distinct tiers the policy serves on, in role order (`small`, `large`): what a
    /// single-tier baseline runs alone.
    public var servingTiers: [String] {
        policy.servingRoles.map { policy.roles[$0] }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
    }

    /// The GPU tiers the run pays for (`billsTier`, not colocated on another tier's GPUs).
    public var billedGPUTiers: [TierSpec] { tiers.filter { $0.kind == .gpu && $0.colocateWith == nil && billsTier($0) } }

    /// GPUs the run pays for, and their $ per hour (what `cost_usd` bills per hour of the run).
    public var billedGPUs: (count: Int, usdPerHour: Double) {
        billedGPUTiers.reduce((0, 0)) { ($0.0 + $1.gpuCount, $0.1 + $1.usdPerHour) }
    }
}

/// The memo key of a static policy's accuracy prediction: the trace (the memo's owner), the
/// policy, the accuracy spec, the seed and the requests served.
struct AccuracyKey: MemoKey {
    typealias Value = AccuracyModel.Prediction?
    let policy: String
    let exponent: Double
    let bootstrapSamples: Int
    let verifiedDraftCredit: Double
    let seed: UInt64
    let requests: [Int]
}
