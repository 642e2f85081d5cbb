import Foundation
import HandoffSupport

/// Loads a scenario from YAML, applies `--set` overrides and validates every field.
/// The field reference is `docs/scenario.md`.
public enum ScenarioLoader {
    /// Loads `path` (or the embedded default scenario when nil).
    public static func load(path: String?, overrides: [String] = []) throws -> Scenario {
        let (text, origin, baseDir) = try source(path: path)
        let root = try ConfigNode.parse(yaml: text, origin: origin)
        guard root.isMap else {
            throw HandoffError.input("a scenario is a YAML mapping of sections", file: origin, line: 1)
        }
        for o in overrides { try root.apply(override: o) }
        return try build(root, baseDir: baseDir)
    }

    /// A scenario's YAML text, the name errors give it, and the folder its relative paths start
    /// from: the file at `path`, or the embedded default scenario when nil.
    public static func source(path: String?) throws -> (text: String, origin: String, baseDir: String) {
        guard let path else {
            return (
                DefaultScenario.yaml, "default scenario (Scenarios/default.yaml)",
                FileManager.default.currentDirectoryPath
            )
        }
        guard !path.isEmpty else {
            throw HandoffError.input(
                "the scenario path is empty; give a scenario YAML file, or leave the argument out for the embedded default",
                field: "SCENARIO")
        }
        return (
            String(decoding: try FileIO.read(path), as: UTF8.self), path,
            URL(fileURLWithPath: path).deletingLastPathComponent().path
        )
    }

    public static func build(_ root: ConfigNode, baseDir: String) throws -> Scenario {
        let r = ConfigReader(root)
        let name = try r.string("name", default: "scenario")
        let description = try r.string("description", default: "")
        let seed = UInt64(try r.int("seed", default: 1, min: 0))
        let catalog = Catalog.builtin
        let (trace, prefixBlockTokens) = try readTrace(r, seed: seed, baseDir: baseDir)
        let traffic = try readTraffic(r, root)
        let models = try readModels(r, baseDir: baseDir, catalog: catalog)
        let gpus = try readGPUs(r, catalog: catalog)
        // cost (read before tiers so tiers can take their prices)
        let costSection = try r.section("cost")
        guard let ts = try r.section("tiers") else { throw r.error("missing section 'tiers' (at least 'small')") }
        var tiers = try readTiers(
            ts, root, models: models, gpus: gpus, costSection: costSection, baseDir: baseDir, catalog: catalog)
        let network = try readNetwork(r, root)
        let policy = try readPolicy(r, tiers: &tiers, tiersSection: ts, baseDir: baseDir)
        let (accuracy, slo, simulation) = try readAccuracySLOSimulation(r, root)
        let engine = try readEngine(r, tiers: tiers, baseDir: baseDir)
        try r.finish()
        var scenario = Scenario(
            name: name, description: description, seed: seed, trace: trace, traffic: traffic, tiers: tiers,
            network: network, policy: policy, accuracy: accuracy, slo: slo, source: root)
        scenario.engine = engine
        scenario.simulation = simulation
        scenario.prefixBlockTokens = prefixBlockTokens
        if policy.execution.isPipelined, let t = tiers.first(where: { $0.requestPrefixCache }) {
            throw HandoffError.input(
                "caching prompt blocks across requests is modelled in sequential mode only; pipelined mode keeps both tiers' contexts resident",
                file: root.origin, field: "tiers.\(t.name).request_prefix_cache")
        }
        if policy is any AdaptivePolicy && simulation.coalesceTokens > 0 {
            throw root.locate(
                HandoffError.input(
                    "policy \(policy.name) decides at every handoff, which a coarse plan merges away; set coalesce_tokens: 0",
                    field: "simulation.coalesce_tokens"))
        }
        return scenario
    }

    /// A section the scenario leaves out, read as empty (every field at its default).
    static func absent(_ root: ConfigNode, _ path: String) -> ConfigReader {
        ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: path)
    }

    /// `trace`: a file or a synthetic generator, and the tokens per prefix block id.
    static func readTrace(_ r: ConfigReader, seed: UInt64, baseDir: String) throws -> (TraceSource, Int) {
        guard let tr = try r.section("trace") else {
            throw r.error("missing section 'trace' (a file or a synthetic generator)")
        }
        let trace: TraceSource
        if let f = try tr.optionalString("file") {
            trace = .file(try tr.existingPath("file", f, baseDir: baseDir))
        } else if let s = try tr.section("synthetic") {
            trace = .synthetic(try readSynthetic(s, seed: seed))
        } else {
            throw tr.error("give either 'file' or 'synthetic'")
        }
        let prefixBlockTokens = try tr.int("prefix_block_tokens", default: 512, min: 1, max: Limits.requestTokens)
        try tr.finish()
        return (trace, prefixBlockTokens)

    }

    /// `traffic`: arrivals, rates, the closed loop, admission control.
    static func readTraffic(_ r: ConfigReader, _ root: ConfigNode) throws -> TrafficSpec {
        let tf = try r.section("traffic") ?? absent(root, "traffic")
        let arrival = TrafficSpec.Arrival(
            rawValue: try tf.string("arrival", default: "poisson", oneOf: TrafficSpec.Arrival.allCases.map(\.rawValue)))!
        var traffic = TrafficSpec(
            arrival: arrival,
            rateRps: try tf.double("rate_rps", default: 1, min: 0, exclusiveMin: true),
            cv: try tf.double("cv", default: 1, min: 0),
            concurrency: try tf.int("concurrency", default: 1, min: 1),
            thinkTimeS: try tf.double("think_time_s", default: 0, min: 0),
            requests: try tf.optionalInt("requests", min: 1))
        traffic.maxInFlight = try tf.int("max_in_flight", default: 0, min: 0)
        traffic.rateGiven = tf.has("rate_rps")
        // A field the arrival process does not read is refused, never silently ignored.
        if arrival == .closed_loop && traffic.rateGiven {
            throw tf.error(
                "rate_rps has no effect under closed_loop: the rate follows from concurrency and think_time_s; remove it (from the command line, replace the section: --set 'traffic={arrival: closed_loop, concurrency: N}'), or use poisson, gamma, constant or replay",
                key: "rate_rps")
        }
        if arrival != .closed_loop {
            for k in ["concurrency", "think_time_s"] where tf.has(k) {
                throw tf.error(
                    "\(k) applies to arrival: closed_loop only (arrival is \(arrival.rawValue)); remove it (from the command line, replace the section: --set 'traffic={arrival: \(arrival.rawValue), rate_rps: R}')",
                    key: k)
            }
        }
        if arrival != .gamma && tf.has("cv") {
            throw tf.error("cv applies to arrival: gamma only (arrival is \(arrival.rawValue)); remove it", key: "cv")
        }
        try tf.finish()
        return traffic

    }

    /// `models`: the scenario's own model entries by key.
    static func readModels(_ r: ConfigReader, baseDir: String, catalog: Catalog) throws -> [String: ModelSpec] {
        var models: [String: ModelSpec] = [:]
        if let ms = try r.section("models") {
            for key in ms.keys {
                guard let m = try ms.section(key) else { continue }
                models[key] = try model(m, key: key, baseDir: baseDir, catalog: catalog)
                try m.finish()
            }
            try ms.finish()
        }
        return models
    }

    /// `gpus`: the catalogue's GPUs and the scenario's custom entries beside them.
    static func readGPUs(_ r: ConfigReader, catalog: Catalog) throws -> [String: GPUSpec] {
        var gpus = catalog.gpus.mapValues { c -> GPUSpec in
            var g = GPUSpec(
                name: c.name, memoryGiB: c.memoryGiB, bandwidthGBs: c.memoryBandwidthGBs, tflops: c.bf16TFLOPS,
                usdPerHour: c.usdPerHour, interconnectGBs: c.interconnectGBs)
            (g.fp8TFLOPS, g.int8TOPS) = (c.fp8TFLOPS, c.int8TOPS)
            return g
        }
        if let gs = try r.section("gpus") {
            for key in gs.keys {
                guard let g = try gs.section(key) else { continue }
                var spec = GPUSpec(
                    name: key, memoryGiB: try g.double("memory_gib", min: 0, exclusiveMin: true),
                    bandwidthGBs: try g.double("memory_bandwidth_gb_s", min: 0, exclusiveMin: true),
                    tflops: try g.double("bf16_tflops", min: 0, exclusiveMin: true),
                    usdPerHour: try g.double("usd_per_hour", default: 0, min: 0),
                    interconnectGBs: try g.double("interconnect_gb_s", default: 0, min: 0))
                spec.fp8TFLOPS = try g.optionalDouble("fp8_tflops", min: 0, exclusiveMin: true)
                spec.int8TOPS = try g.optionalDouble("int8_tops", min: 0, exclusiveMin: true)
                spec.allReduceEfficiency = try g.double(
                    "allreduce_efficiency", default: spec.allReduceEfficiency, min: 0, max: 1, exclusiveMin: true)
                spec.allReduceLatencyUs = try g.double("allreduce_latency_us", default: spec.allReduceLatencyUs, min: 0)
                gpus[key] = spec
                try g.finish()
            }
            try gs.finish()
        }
        return gpus
    }

    /// `network`: the round trip between tiers, bandwidth, bytes per token.
    static func readNetwork(_ r: ConfigReader, _ root: ConfigNode) throws -> NetworkSpec {
        let nw = try r.section("network") ?? absent(root, "network")
        let network = NetworkSpec(
            rttMs: try Distribution.read(nw, "rtt_ms", default: .constant(0.5)),
            bandwidthGbps: try nw.double("bandwidth_gbps", default: 10, min: 0, exclusiveMin: true),
            bytesPerToken: try nw.double("bytes_per_token", default: 4, min: 0))
        try nw.finish()
        return network

    }

    /// `policy`: the registry's policy, its closed-loop file, its tiers resolved and checked.
    static func readPolicy(
        _ r: ConfigReader, tiers: inout [TierSpec], tiersSection ts: ConfigReader, baseDir: String
    ) throws -> any Policy {
        guard let ps = try r.section("policy") else {
            throw r.error("missing section 'policy' (name: \(PolicyRegistry.names.joined(separator: " | ")))")
        }
        var policy = try PolicyRegistry.make(ps)
        try policy.resolve(ps, tiers: tiers, baseDir: baseDir)
        for role in policy.roles where !tiers.contains(where: { $0.name == role }) {
            throw ps.error("policy '\(policy.name)' needs a tier named '\(role)' under 'tiers'", key: "name")
        }
        do { try policy.adjust(tiers: &tiers) } catch let e as HandoffError { throw r.node.locate(e) }
        if policy.execution.isPipelined,
            let t = tiers.first(where: { policy.roles.contains($0.name) && $0.kind == .api })
        {
            throw ps.error(
                "pipelined mode keeps both KV caches current, which an API tier ('\(t.name)') cannot do; use mode: sequential",
                key: "mode")
        }
        if let t = tiers.first(where: { $0.name == policy.roles[0] }), t.kind == .api {
            throw ts.error("the entry tier '\(t.name)' must be a GPU tier", key: t.name)
        }
        return policy
    }

    /// `accuracy`, `slo` and `simulation`.
    static func readAccuracySLOSimulation(
        _ r: ConfigReader, _ root: ConfigNode
    ) throws -> (AccuracySpec, SLOSpec, SimulationSpec) {
        let ac = try r.section("accuracy") ?? absent(root, "accuracy")
        var accuracy = AccuracySpec(
            difficultyExponent: try ac.double("difficulty_exponent", default: 2, min: 0),
            bootstrapSamples: try ac.int("bootstrap_samples", default: 1000, min: 10))
        accuracy.verifiedDraftCredit = try ac.double("verified_draft_credit", default: 1, min: 0, max: 1)
        try ac.finish()
        let so = try r.section("slo") ?? absent(root, "slo")
        var slo = SLOSpec(
            ttftMs: try so.optionalDouble("ttft_ms", min: 0), e2elMs: try so.optionalDouble("e2el_ms", min: 0))
        slo.tpotMs = try so.optionalDouble("tpot_ms", min: 0)
        slo.windowS = try so.double("window_s", default: 60, min: 0, exclusiveMin: true)
        try so.finish()
        let si = try r.section("simulation") ?? absent(root, "simulation")
        let simulation = SimulationSpec(
            coalesceTokens: try si.int("coalesce_tokens", default: 0, min: 0, max: Limits.requestTokens),
            scheduler: SchedulerKind(
                rawValue: try si.string(
                    "scheduler", default: SchedulerKind.vllm.rawValue, oneOf: SchedulerKind.allCases.map(\.rawValue)))!)
        try si.finish()
        return (accuracy, slo, simulation)
    }

    /// `engine`: how `validate` and the other engine commands reach each tier's server.
    static func readEngine(_ r: ConfigReader, tiers: [TierSpec], baseDir: String) throws -> [String: EngineTierSpec] {
        var engine: [String: EngineTierSpec] = [:]
        if let es = try r.section("engine") {
            for key in es.keys {
                guard tiers.contains(where: { $0.name == key }) else {
                    throw es.error(
                        "no tier named '\(key)'; tiers: \(tiers.map(\.name).joined(separator: ", "))", key: key)
                }
                guard let e = try es.section(key) else { continue }
                let d = EngineTierSpec.defaults
                engine[key] = EngineTierSpec(
                    url: try e.optionalString("url"),
                    template: try e.string(
                        "template", default: d.template, oneOf: PromptTemplate.allCases.map(\.rawValue)),
                    ignoreEOS: try e.bool("ignore_eos", default: d.ignoreEOS),
                    topLogprobs: try e.int("top_logprobs", default: d.topLogprobs, min: 1, max: 20),
                    pinSlots: try e.bool("pin_slots", default: d.pinSlots))
                if let name = try e.optionalString("api_key_env") {
                    guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                        throw e.error(
                            "'\(name)' is not an environment variable name; expected letters, digits and _ (the key itself never goes in a scenario)",
                            key: "api_key_env")
                    }
                    engine[key]!.apiKeyEnv = name
                }
                if let ca = try e.optionalString("ca_file") {
                    engine[key]!.caFile = try e.existingPath("ca_file", ca, baseDir: baseDir)
                }
                try e.finish()
            }
            try es.finish()
        }
        return engine
    }

    static func readSynthetic(_ s: ConfigReader, seed: UInt64) throws -> SyntheticTraceSpec {
        var g = SyntheticTraceSpec()
        g.seed = UInt64(try s.int("seed", default: Int(seed), min: 0))
        g.requests = try s.int("requests", default: g.requests, min: 1, max: Limits.requests)
        func lengths(_ key: String, _ d: SyntheticTraceSpec.Lengths) throws -> SyntheticTraceSpec.Lengths {
            guard let l = try s.section(key) else { return d }
            let out = SyntheticTraceSpec.Lengths(
                median: try l.double("median", default: d.median, min: 0, exclusiveMin: true),
                sigma: try l.double("sigma", default: d.sigma, min: 0, max: 10),
                min: try l.int("min", default: d.min, min: 0, max: Limits.requestTokens),
                max: try l.int("max", default: d.max, min: 0, max: Limits.requestTokens))
            if out.max < out.min { throw l.error("max (\(out.max)) is below min (\(out.min))", key: "max") }
            try l.finish()
            return out
        }
        g.promptTokens = try lengths("prompt_tokens", g.promptTokens)
        g.outputTokens = try lengths("output_tokens", g.outputTokens)
        g.hardnessAlpha = try s.double("hardness_alpha", default: g.hardnessAlpha, min: 0, exclusiveMin: true)
        g.hardnessBeta = try s.double("hardness_beta", default: g.hardnessBeta, min: 0, exclusiveMin: true)
        g.burstRatePer1kTokens = try s.double("burst_rate_per_1k_tokens", default: g.burstRatePer1kTokens, min: 0)
        g.burstTokensMean = try s.double("burst_tokens_mean", default: g.burstTokensMean, min: 1)
        g.easyMax = try s.double("easy_max", default: g.easyMax, min: 0, max: 1)
        g.hardMin = try s.double("hard_min", default: g.hardMin, min: 0, max: 1)
        g.stepTokensMean = try s.double("step_tokens_mean", default: g.stepTokensMean, min: 0)
        // Step lengths are geometric with mean step_tokens_mean ≥ 1 (p = 1/mean ≤ 1); 0 means no steps.
        if g.stepTokensMean > 0 && g.stepTokensMean < 1 {
            throw s.error(
                "\(JSONWriter.number(g.stepTokensMean)) is out of range; expected 0 (no steps) or a mean step length ≥ 1 token",
                key: "step_tokens_mean")
        }
        g.stepCandidates = try s.int("step_candidates", default: g.stepCandidates, min: 0, max: 256)
        g.candidateScoreSD = try s.double("candidate_score_sd", default: g.candidateScoreSD, min: 0)
        if g.stepCandidates > 0 && g.stepTokensMean == 0 {
            throw s.error("needs step_tokens_mean > 0 (candidates belong to reasoning steps)", key: "step_candidates")
        }
        g.smallAccuracy = try s.double("small_accuracy", default: g.smallAccuracy, min: 0, max: 1)
        g.largeAccuracy = try s.double("large_accuracy", default: g.largeAccuracy, min: 0, max: 1)
        try s.finish()
        return g
    }
}
