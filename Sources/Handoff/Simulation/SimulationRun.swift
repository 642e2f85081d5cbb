import Foundation

/// A finished simulation with its summary.
public struct SimulationResult: Sendable {
    public var scenario: Scenario
    public var outcome: SimulationOutcome
    public var accuracy: AccuracyModel.Prediction?
    /// The summary with stable keys (see `docs/output.md`).
    public var summary: JSONValue
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
    public static func run(_ scenario: Scenario, trace given: Trace? = nil, checkingInvariants: Bool = false) throws -> SimulationResult {
        do { return try runLocated(scenario, trace: given, checkingInvariants: checkingInvariants) } catch let e as HandoffError {
            throw scenario.source.locate(e)
        }
    }

    static func runLocated(_ scenario: Scenario, trace given: Trace? = nil, checkingInvariants: Bool) throws -> SimulationResult {
        let trace = try given ?? loadTrace(scenario)
        if let sr = scenario.policy as? SplitReasonPolicy, let model = sr.closedLoop {
            return try runClosedLoop(scenario, sr, model, trace, checkingInvariants: checkingInvariants)
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
        let used = Array(Set(outcome.requests.map(\.traceIndex))).sorted()
        // The prediction depends on the trace, the policy, the requests served, the accuracy spec and
        // the seed, not on the serving fields: a sweep over replicas or prices computes it once.
        var key = "accuracy|" + JSONWriter.write(.object(scenario.policy.parameters)) + "|\(scenario.accuracy.difficultyExponent)|"
        key += "\(scenario.accuracy.bootstrapSamples)|\(scenario.accuracy.verifiedDraftCredit)|\(scenario.seed)|" + used.map(String.init).joined(separator: ",")
        let acc = trace.memoised(key) {
            AccuracyModel.predict(trace: trace, policy: scenario.policy, requests: used, spec: scenario.accuracy, seed: scenario.seed)
        }
        let summary = summarize(scenario, outcome, acc)
        try SummaryCheck.check(summary, scenario: scenario)
        return SimulationResult(scenario: scenario, outcome: outcome, accuracy: acc, summary: summary)
    }

    /// `prefix_cache`, only when a tier caches prompt blocks across requests: the share of prompt
    /// tokens looked up that were found cached, overall and by tier.
    static func prefixCacheSummary(_ o: SimulationOutcome) -> [(String, JSONValue)] {
        let tiers = o.tiers.filter { $0.prefixLookedUpTokens != nil }
        guard !tiers.isEmpty else { return [] }
        func entry(_ hit: Int, _ looked: Int, _ evicted: Int) -> JSONValue {
            .object([("hit_rate", .number(looked > 0 ? Double(hit) / Double(looked) : 0)), ("hit_tokens", .number(Double(hit))),
                     ("prompt_tokens", .number(Double(looked))), ("evicted_blocks", .number(Double(evicted)))])
        }
        let hit = tiers.reduce(0) { $0 + $1.prefixHitTokens! }, looked = tiers.reduce(0) { $0 + $1.prefixLookedUpTokens! }
        guard case let .object(total) = entry(hit, looked, tiers.reduce(0) { $0 + $1.prefixEvictedBlocks! }) else { return [] }
        return [("prefix_cache", .object(total + [("by_tier", .object(tiers.map { ($0.name, entry($0.prefixHitTokens!, $0.prefixLookedUpTokens!, $0.prefixEvictedBlocks!)) }))]))]
    }

    static func summarize(_ s: Scenario, _ o: SimulationOutcome, _ acc: AccuracyModel.Prediction?) -> JSONValue {
        let ok = o.requests.filter { !$0.failed }
        let duration = o.endTime
        let outTokens = ok.reduce(0) { $0 + $1.outputTokens }
        let offTokens = ok.reduce(0) { $0 + $1.offloadedTokens }
        let gib = 1_073_741_824.0
        var memory: [(String, JSONValue)] = []
        var cost: [(String, JSONValue)] = []
        var util: [(String, JSONValue)] = []
        var total = 0.0
        for (t, tier) in s.tiers.enumerated() {
            let to = o.tiers[t]
            var c = 0.0
            if tier.kind == .gpu {
                let capacity = Double(tier.tensorParallel) * tier.gpu.memoryGiB
                let peak = (tier.model.weightMemory + Double(to.peakKVTokens) * tier.model.kvBytesPerToken) / gib
                memory.append((tier.name, .object([("peak", .number(peak)), ("capacity", .number(capacity)),
                                                   ("fits", .bool(tier.kvCapacityTokens > 0 && peak <= capacity * tier.gpuMemoryUtilization + 1e-9)),
                                                   ("weights", .number(tier.model.weightMemory / gib)),
                                                   ("kv_peak_tokens", .number(Double(to.peakKVTokens))),
                                                   ("kv_capacity_tokens", .number(Double(tier.kvCapacityTokens)))]
                                                  + (tier.colocateWith.map { [("colocated_with", JSONValue.string($0))] } ?? []))))
                // Colocated tiers run on their host tier's GPUs, paid for there.
                c = tier.colocateWith != nil ? 0 : Double(tier.replicas * tier.tensorParallel) * tier.cost.usdPerGpuHour * duration / 3600
                util.append((tier.name, .number(duration > 0 ? to.busySeconds / (duration * Double(tier.replicas)) : 0)))
            } else {
                // Every tier is in every per-tier table; an API tier holds nothing on the user's
                // GPUs and keeps none of them busy (docs/output.md).
                memory.append((tier.name, .object([("peak", .number(0)), ("capacity", .number(0)), ("fits", .bool(true)), ("weights", .number(0)),
                                                   ("kv_peak_tokens", .number(0)), ("kv_capacity_tokens", .number(0)), ("api", .bool(true))])))
                util.append((tier.name, .number(0)))
                let inTok = o.requests.reduce(0) { $0 + $1.apiInputTokens }, cached = o.requests.reduce(0) { $0 + $1.apiCachedInputTokens }
                let outTok = o.requests.reduce(0) { $0 + $1.apiOutputTokens }
                c = (Double(inTok) * tier.cost.usdPerMillionInput + Double(cached) * (tier.cost.usdPerMillionCachedInput ?? 0)
                     + Double(outTok) * tier.cost.usdPerMillionOutput) / 1e6
            }
            total += c
            cost.append((tier.name, .number(c)))
        }
        let n = Double(max(1, ok.count))
        // An empty set (nothing served, or no request of two or more tokens for TPOT) reports 0,
        // never NaN; `requests` says how many were served (docs/output.md).
        func ms(_ xs: [Double]) -> JSONValue {
            xs.isEmpty ? Statistics.Summary(mean: 0, p50: 0, p90: 0, p95: 0, p99: 0).json : Statistics.summary(xs.map { $0 * 1000 }).json
        }
        var sloPairs: [(String, JSONValue)] = []
        if let t = s.slo.ttftMs { sloPairs.append(("ttft_attainment", .number(Double(ok.filter { $0.ttftS * 1000 <= t }.count) / n))) }
        if let e = s.slo.e2elMs { sloPairs.append(("e2el_attainment", .number(Double(ok.filter { $0.e2elS * 1000 <= e }.count) / n))) }
        var accPairs: [(String, JSONValue)] = [("predicted", .null), ("ci95", .null), ("labeled_requests", .number(0))]
        if let a = acc {
            accPairs = [("predicted", .number(a.predicted)), ("ci95", .numbers([a.ci95.0, a.ci95.1])),
                        ("labeled_requests", .number(Double(a.labeled))), ("small_only", .number(a.smallOnly)), ("large_only", .number(a.largeOnly))]
        }
        return .object([
            ("scenario", .string(s.name)),
            ("policy", .object(s.policy.parameters)),
            ("requests", .number(Double(ok.count))),
            ("requests_failed", .number(Double(o.requests.count - ok.count))),
            ("requests_rejected", .number(Double(o.requests.reduce(0) { $0 + ($1.rejected ? 1 : 0) }))),
            ("duration_s", .number(duration)),
            ("throughput_rps", .number(duration > 0 ? Double(ok.count) / duration : 0)),
            ("output_tokens_per_s", .number(duration > 0 ? Double(outTokens) / duration : 0)),
            ("latency_ms", .object([("ttft", ms(ok.map(\.ttftS))), ("tpot", ms(ok.filter { $0.outputTokens > 1 }.map(\.tpotS))), ("e2el", ms(ok.map(\.e2elS)))])),
            ("offload", .object([("token_fraction", .number(outTokens > 0 ? Double(offTokens) / Double(outTokens) : 0)),
                                 ("request_fraction", .number(Double(ok.filter { $0.offloadedTokens > 0 }.count) / n)),
                                 ("handoffs_per_request", .number(Double(ok.reduce(0) { $0 + $1.handoffs }) / n)),
                                 ("segments_per_request", .number(Double(ok.reduce(0) { $0 + $1.offloadSegments }) / n))])),
            ("memory_gib", .object(memory)),
            ("utilization", .object(util)),
            ("preemptions", .object(o.tiers.map { ($0.name, .number(Double($0.preemptions))) })),
            ("cost_usd", .object([("total", .number(total)), ("per_1k_requests", .number(ok.isEmpty ? 0 : total / Double(ok.count) * 1000)),
                                  ("by_tier", .object(cost))])),
            ("accuracy", .object(accPairs)),
            ("slo", .object(sloPairs)),
            ("events", .number(Double(o.events))),
            ("seed", .number(Double(s.seed))),
        ] + prefixCacheSummary(o) + (s.simulation.coalesceTokens > 0 ? [("simulation", .object([("coalesce_tokens", .number(Double(s.simulation.coalesceTokens))),
                                                                          ("exact_rerun", .bool(s.simulation.exactRerun))]))] : []))
    }
}
