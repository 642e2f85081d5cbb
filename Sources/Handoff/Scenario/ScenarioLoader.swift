import Foundation

/// Loads a scenario from YAML, applies `--set` overrides and validates every field.
/// The field reference is `docs/scenario.md`.
public enum ScenarioLoader {
    /// Loads `path` (or the embedded default scenario when nil).
    public static func load(path: String?, overrides: [String] = []) throws -> Scenario {
        let (text, origin, baseDir) = try source(path: path)
        let root = try ConfigNode.parse(yaml: text, origin: origin)
        guard root.isMap else { throw HandoffError.input("a scenario is a YAML mapping of sections", file: origin, line: 1) }
        for o in overrides { try root.apply(override: o) }
        return try build(root, baseDir: baseDir)
    }

    /// A scenario's YAML text, the name errors give it, and the folder its relative paths start
    /// from: the file at `path`, or the embedded default scenario when nil.
    public static func source(path: String?) throws -> (text: String, origin: String, baseDir: String) {
        guard let path else {
            return (DefaultScenario.yaml, "default scenario (Scenarios/default.yaml)", FileManager.default.currentDirectoryPath)
        }
        return (String(decoding: try FileIO.read(path), as: UTF8.self), path, URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }

    public static func build(_ root: ConfigNode, baseDir: String) throws -> Scenario {
        let r = ConfigReader(root)
        let name = try r.string("name", default: "scenario")
        let description = try r.string("description", default: "")
        let seed = UInt64(try r.int("seed", default: 1, min: 0))
        let catalog = Catalog.builtin

        // trace
        guard let tr = try r.section("trace") else { throw r.error("missing section 'trace' (a file or a synthetic generator)") }
        let trace: TraceSource
        if let f = try tr.optionalString("file") {
            trace = .file(try tr.existingPath("file", f, baseDir: baseDir))
        } else if let s = try tr.section("synthetic") {
            trace = .synthetic(try readSynthetic(s, seed: seed))
        } else { throw tr.error("give either 'file' or 'synthetic'") }
        let prefixBlockTokens = try tr.int("prefix_block_tokens", default: 512, min: 1, max: Limits.requestTokens)
        try tr.finish()

        // traffic
        let tf = try r.section("traffic") ?? ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: "traffic")
        let arrival = TrafficSpec.Arrival(rawValue: try tf.string("arrival", default: "poisson", oneOf: TrafficSpec.Arrival.allCases.map(\.rawValue)))!
        var traffic = TrafficSpec(arrival: arrival,
                                  rateRps: try tf.double("rate_rps", default: 1, min: 0, exclusiveMin: true),
                                  cv: try tf.double("cv", default: 1, min: 0),
                                  concurrency: try tf.int("concurrency", default: 1, min: 1),
                                  thinkTimeS: try tf.double("think_time_s", default: 0, min: 0),
                                  requests: try tf.optionalInt("requests", min: 1))
        traffic.maxInFlight = try tf.int("max_in_flight", default: 0, min: 0)
        try tf.finish()

        // models
        var models: [String: ModelSpec] = [:]
        if let ms = try r.section("models") {
            for key in ms.keys {
                guard let m = try ms.section(key) else { continue }
                models[key] = try model(m, key: key, baseDir: baseDir, catalog: catalog)
                try m.finish()
            }
            try ms.finish()
        }

        // gpus (custom entries beside the catalogue)
        var gpus = catalog.gpus.mapValues { GPUSpec(name: $0.name, memoryGiB: $0.memoryGiB, bandwidthGBs: $0.memoryBandwidthGBs, tflops: $0.bf16TFLOPS, usdPerHour: $0.usdPerHour) }
        if let gs = try r.section("gpus") {
            for key in gs.keys {
                guard let g = try gs.section(key) else { continue }
                gpus[key] = GPUSpec(name: key, memoryGiB: try g.double("memory_gib", min: 0, exclusiveMin: true),
                                    bandwidthGBs: try g.double("memory_bandwidth_gb_s", min: 0, exclusiveMin: true),
                                    tflops: try g.double("bf16_tflops", min: 0, exclusiveMin: true),
                                    usdPerHour: try g.double("usd_per_hour", default: 0, min: 0))
                try g.finish()
            }
            try gs.finish()
        }

        // cost (read before tiers so tiers can take their prices)
        let costSection = try r.section("cost")

        // tiers
        guard let ts = try r.section("tiers") else { throw r.error("missing section 'tiers' (at least 'small')") }
        var tiers: [TierSpec] = []
        for key in ts.keys {
            guard let t = try ts.section(key) else { continue }
            let kind = TierSpec.Kind(rawValue: try t.string("kind", default: "gpu", oneOf: ["gpu", "api"]))!
            let modelKey = try t.string("model", default: key)
            let model: ModelSpec
            if let m = models[modelKey] { model = m }
            else if let c = catalog.models[modelKey] { model = ModelSpec(catalog: c) } else if kind == .api {
                model = ModelSpec(name: modelKey, paramsB: 0, layers: 1, attentionHeads: 1, kvHeads: 1, headDim: 1, hidden: 1, weightBytes: 0, kvBytes: 0)
            } else {
                throw t.error("'\(modelKey)' is neither a key of 'models' (\(models.keys.sorted().joined(separator: ", "))) nor a catalogue model", key: "model")
            }
            var gpu = GPUSpec(name: "none", memoryGiB: 0, bandwidthGBs: 0, tflops: 0, usdPerHour: 0)
            if kind == .gpu {
                let g = try t.string("gpu")
                guard let spec = gpus[g] else {
                    throw t.error("unknown GPU '\(g)'; known: \(gpus.keys.sorted().joined(separator: ", ")) (or define it under 'gpus')", key: "gpu")
                }
                gpu = spec
            }
            let tp = try t.int("tensor_parallel", default: 1, min: 1)
            var latency = LatencySpec.linear(fixedMs: 0, prefillMsPerToken: 0, decodeMsPerSeq: 0, msPerContextToken: 0)
            var calibrationReader: ConfigReader?
            var api: APISpec? = nil
            if kind == .gpu {
                var l = try t.section("latency") ?? ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: "tiers.\(key).latency")
                if let cal = try l.optionalString("calibration") {
                    // A file `handoff calibrate` wrote: its `latency` section replaces this one.
                    try l.finish()
                    let path = try l.existingPath("calibration", cal, baseDir: baseDir)
                    let node = try ConfigNode.parse(yaml: String(decoding: try FileIO.read(path), as: UTF8.self), origin: path)
                    let cr = ConfigReader(node)
                    guard let section = try cr.section("latency") else { throw cr.error("a calibration file needs a 'latency' section") }
                    calibrationReader = cr
                    l = section
                }
                switch try l.string("kind", default: "roofline", oneOf: ["roofline", "table", "linear"]) {
                case "table":
                    let csv = try l.string("csv")
                    let csvPath = try l.existingPath("csv", csv, baseDir: baseDir)
                    let tableModel = try l.string("model", default: model.name)
                    let table: TokensPerSecondTable
                    do { table = try TokensPerSecondTable.load(csvPath: csvPath, model: tableModel) } catch let e as HandoffError where e.line == nil {
                        // Located where the scenario names the table (and the model looked up in it).
                        throw l.error("\(csvPath): \(e.message)", key: l.has("model") ? "model" : "csv")
                    }
                    latency = .table(table, decodeBatchSlope: try l.double("decode_batch_slope", default: 0, min: 0),
                                     overheadMs: try l.double("overhead_ms", default: 0, min: 0))
                case "linear":
                    latency = .linear(fixedMs: try l.double("fixed_ms", default: 0, min: 0), prefillMsPerToken: try l.double("prefill_ms_per_token", min: 0),
                                      decodeMsPerSeq: try l.double("decode_ms_per_seq", default: l.has("decode_ms_by_batch") ? 0 : nil, min: 0), msPerContextToken: try l.double("ms_per_context_token", default: 0, min: 0),
                                      prefillAttentionMs: try l.double("prefill_attention_ms", default: 0, min: 0),
                                      decodeMsByBatch: try l.doubleList("decode_ms_by_batch", min: 0),
                                      prefillMsByTokens: try l.doubleList("prefill_ms_by_tokens", min: 0))
                default:
                    // n₀ of the MFU ramp: tokens, or `ridge` (the roofline's ridge point, resolved per GPU and model).
                    var ramp = 0.0
                    if let s = l.node["mfu_ramp_tokens"]?.scalar, Double(s) == nil {
                        guard s == "ridge" else { throw l.error("'\(s)' is neither a number of tokens (n₀ ≥ 0) nor ridge", key: "mfu_ramp_tokens") }
                        _ = try l.optionalString("mfu_ramp_tokens")
                        ramp = LatencySpec.ridgeRamp
                    } else {
                        ramp = try l.double("mfu_ramp_tokens", default: 0, min: 0)
                    }
                    latency = .roofline(mfu: try l.double("mfu", default: 0.5, min: 0, max: 1, exclusiveMin: true),
                                        mbu: try l.double("mbu", default: 0.8, min: 0, max: 1, exclusiveMin: true),
                                        overheadMs: try l.double("overhead_ms", default: 1, min: 0),
                                        mfuRampTokens: ramp)
                }
                try l.finish()
                try calibrationReader?.finish(known: ["fit", "probes", "server", "model", "timing"])
            } else {
                guard let a = try t.section("api") else { throw t.error("an api tier needs an 'api' section with ttft_ms and tokens_per_s") }
                api = APISpec(ttftMs: try Distribution.read(a, "ttft_ms", default: nil), tokensPerS: try Distribution.read(a, "tokens_per_s", default: nil))
                try a.finish()
            }
            var cost = CostSpec(usdPerGpuHour: gpu.usdPerHour, usdPerMillionInput: 0, usdPerMillionOutput: 0, usdPerMillionCachedInput: nil)
            if let cs = costSection, let c = try cs.section(key) {
                cost.usdPerGpuHour = try c.double("usd_per_gpu_hour", default: gpu.usdPerHour, min: 0)
                cost.usdPerMillionInput = try c.double("usd_per_million_input_tokens", default: 0, min: 0)
                cost.usdPerMillionOutput = try c.double("usd_per_million_output_tokens", default: 0, min: 0)
                cost.usdPerMillionCachedInput = try c.optionalDouble("usd_per_million_cached_input_tokens", min: 0)
                try c.finish()
            }
            if kind == .gpu && !cost.usdPerGpuHour.isFinite {
                throw t.error("the catalogue has no public list price for \(gpu.name); set cost.\(key).usd_per_gpu_hour", key: "gpu")
            }
            var tier = TierSpec(name: key, kind: kind, model: model, gpu: gpu,
                                replicas: try t.int("replicas", default: 1, min: 1, max: 100_000), tensorParallel: tp,
                                gpuMemoryUtilization: try t.double("gpu_memory_utilization", default: 0.9, min: 0, max: 1, exclusiveMin: true),
                                maxNumSeqs: try t.int("max_num_seqs", default: 256, min: 1),
                                maxNumBatchedTokens: try t.int("max_num_batched_tokens", default: 8192, min: 1),
                                prefixCaching: try t.bool("prefix_caching", default: true), latency: latency, api: api, cost: cost)
            tier.kvCapacityOverride = try t.optionalInt("kv_capacity_tokens", min: 1)
            tier.prefixCache = PrefixCache(rawValue: try t.string("prefix_cache", default: "shared", oneOf: PrefixCache.allCases.map(\.rawValue)))!
            tier.routing = TierSpec.Routing(rawValue: try t.string("routing", default: "least_loaded", oneOf: TierSpec.Routing.allCases.map(\.rawValue)))!
            tier.requestPrefixCache = try t.bool("request_prefix_cache", default: false)
            if tier.routing == .prefix_affinity && !tier.requestPrefixCache {
                throw t.error("prefix_affinity routes by the replicas' caches of prompt blocks; set request_prefix_cache: true as well", key: "routing")
            }
            tier.colocateWith = try t.optionalString("colocate_with").flatMap { $0.isEmpty ? nil : $0 }  // "" (--set …=) unsets
            try t.finish()
            // vLLM's own rule (SchedulerConfig): a batch must be able to hold one token of every sequence.
            if tier.kind == .gpu && tier.maxNumBatchedTokens < tier.maxNumSeqs {
                throw t.error("\(tier.maxNumBatchedTokens) is below max_num_seqs (\(tier.maxNumSeqs)); a batch must hold one token of every sequence, as vLLM requires",
                              key: t.has("max_num_batched_tokens") ? "max_num_batched_tokens" : "max_num_seqs")
            }
            if tier.kind == .gpu && tier.kvCapacityTokens <= 0 {
                let gib = 1_073_741_824.0
                var e = t.error(String(format: "the weights (%.1f GiB) leave no room for a KV cache in %d × %.0f GiB × %.2f; raise tensor_parallel, pick a larger GPU or lower weight_bytes",
                                       model.weightMemory / gib, tp, gpu.memoryGiB, tier.gpuMemoryUtilization))
                e.doesNotFit = true
                throw e
            }
            tiers.append(tier)
        }
        try ts.finish()
        for t in tiers {
            guard let host = t.colocateWith else { continue }
            let at = "tiers.\(t.name).colocate_with"
            guard let h = tiers.first(where: { $0.name == host }), h.name != t.name else {
                throw ts.error("\(at): no other tier named '\(host)' (tiers: \(tiers.map(\.name).joined(separator: ", ")))", key: t.name)
            }
            guard t.kind == .gpu, h.kind == .gpu, h.colocateWith == nil else {
                throw ts.error("\(at): both tiers must be GPU tiers, and '\(host)' must not itself be colocated", key: t.name)
            }
            guard h.gpu.name == t.gpu.name, h.replicas == t.replicas, h.tensorParallel == t.tensorParallel else {
                throw ts.error("\(at): colocated tiers need the same gpu, replicas and tensor_parallel ('\(host)': \(h.gpu.name) × \(h.replicas), tp \(h.tensorParallel); '\(t.name)': \(t.gpu.name) × \(t.replicas), tp \(t.tensorParallel))", key: t.name)
            }
            let share = tiers.filter { $0.name == host || $0.colocateWith == host }.reduce(0) { $0 + $1.gpuMemoryUtilization }
            guard share <= 1 + 1e-9 else {
                throw ts.error(String(format: "\(at): the gpu_memory_utilization of the tiers sharing '\(host)' add up to %.2f; they split one GPU's memory, so the sum must be ≤ 1", share), key: t.name)
            }
        }
        if let cs = costSection {
            for k in cs.keys where !tiers.contains(where: { $0.name == k }) {
                throw cs.error("no tier named '\(k)' (tiers: \(tiers.map(\.name).joined(separator: ", ")))", key: k)
            }
            try cs.finish()
        }

        // network
        let nw = try r.section("network") ?? ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: "network")
        let network = NetworkSpec(rttMs: try Distribution.read(nw, "rtt_ms", default: .constant(0.5)),
                                  bandwidthGbps: try nw.double("bandwidth_gbps", default: 10, min: 0, exclusiveMin: true),
                                  bytesPerToken: try nw.double("bytes_per_token", default: 4, min: 0))
        try nw.finish()

        // policy
        guard let ps = try r.section("policy") else { throw r.error("missing section 'policy' (name: \(PolicyRegistry.names.joined(separator: " | ")))") }
        var policy = try PolicyRegistry.make(ps)
        if var sr = policy as? SplitReasonPolicy, let f = sr.closedLoopFile {
            sr.closedLoop = try ClosedLoopModel.load(path: try ps.existingPath("closed_loop", f, baseDir: baseDir))
            policy = sr
        }
        if var single = policy as? SingleTierPolicy, single.name == "single", single.tier.isEmpty {
            guard tiers.count == 1 else {
                throw ps.error("policy single runs one tier; name it with tier: (one of \(tiers.map(\.name).joined(separator: ", ")))", key: "tier")
            }
            single.tier = tiers[0].name
            policy = single
        }
        for role in policy.roles where !tiers.contains(where: { $0.name == role }) {
            throw ps.error("policy '\(policy.name)' needs a tier named '\(role)' under 'tiers'", key: "name")
        }
        try policy.adjust(tiers: &tiers)
        if policy.mode == .pipelined, let t = tiers.first(where: { policy.roles.contains($0.name) && $0.kind == .api }) {
            throw ps.error("pipelined mode keeps both KV caches current, which an API tier ('\(t.name)') cannot do; use mode: sequential", key: "mode")
        }
        if let t = tiers.first(where: { $0.name == policy.roles[0] }), t.kind == .api {
            throw ts.error("the entry tier '\(t.name)' must be a GPU tier", key: t.name)
        }

        let ac = try r.section("accuracy") ?? ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: "accuracy")
        var accuracy = AccuracySpec(difficultyExponent: try ac.double("difficulty_exponent", default: 2, min: 0),
                                    bootstrapSamples: try ac.int("bootstrap_samples", default: 1000, min: 10))
        accuracy.verifiedDraftCredit = try ac.double("verified_draft_credit", default: 1, min: 0, max: 1)
        try ac.finish()
        let so = try r.section("slo") ?? ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: "slo")
        let slo = SLOSpec(ttftMs: try so.optionalDouble("ttft_ms", min: 0), e2elMs: try so.optionalDouble("e2el_ms", min: 0))
        try so.finish()
        let si = try r.section("simulation") ?? ConfigReader(ConfigNode(kind: .map, origin: root.origin, line: nil, column: nil), path: "simulation")
        let simulation = SimulationSpec(coalesceTokens: try si.int("coalesce_tokens", default: 0, min: 0, max: Limits.requestTokens))
        try si.finish()
        var engine: [String: EngineTierSpec] = [:]
        if let es = try r.section("engine") {
            for key in es.keys {
                guard tiers.contains(where: { $0.name == key }) else {
                    throw es.error("no tier named '\(key)'; tiers: \(tiers.map(\.name).joined(separator: ", "))", key: key)
                }
                guard let e = try es.section(key) else { continue }
                let d = EngineTierSpec.defaults
                engine[key] = EngineTierSpec(url: try e.optionalString("url"),
                                             template: try e.string("template", default: d.template, oneOf: PromptTemplate.allCases.map(\.rawValue)),
                                             ignoreEOS: try e.bool("ignore_eos", default: d.ignoreEOS),
                                             topLogprobs: try e.int("top_logprobs", default: d.topLogprobs, min: 1, max: 20),
                                             pinSlots: try e.bool("pin_slots", default: d.pinSlots))
                if let name = try e.optionalString("api_key_env") {
                    guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                        throw e.error("'\(name)' is not an environment variable name; expected letters, digits and _ (the key itself never goes in a scenario)",
                                      key: "api_key_env")
                    }
                    engine[key]!.apiKeyEnv = name
                }
                if let ca = try e.optionalString("ca_file") { engine[key]!.caFile = try e.existingPath("ca_file", ca, baseDir: baseDir) }
                try e.finish()
            }
            try es.finish()
        }
        try r.finish()
        var scenario = Scenario(name: name, description: description, seed: seed, trace: trace, traffic: traffic, tiers: tiers,
                                network: network, policy: policy, accuracy: accuracy, slo: slo, source: root)
        scenario.engine = engine
        scenario.simulation = simulation
        scenario.prefixBlockTokens = prefixBlockTokens
        if policy.mode == .pipelined, let t = tiers.first(where: { $0.requestPrefixCache }) {
            throw HandoffError.input("caching prompt blocks across requests is modelled in sequential mode only; pipelined mode keeps both tiers' contexts resident",
                                     file: root.origin, field: "tiers.\(t.name).request_prefix_cache")
        }
        return scenario
    }

    static func readSynthetic(_ s: ConfigReader, seed: UInt64) throws -> SyntheticTraceSpec {
        var g = SyntheticTraceSpec()
        g.seed = UInt64(try s.int("seed", default: Int(seed), min: 0))
        g.requests = try s.int("requests", default: g.requests, min: 1, max: Limits.requests)
        func lengths(_ key: String, _ d: SyntheticTraceSpec.Lengths) throws -> SyntheticTraceSpec.Lengths {
            guard let l = try s.section(key) else { return d }
            let out = SyntheticTraceSpec.Lengths(median: try l.double("median", default: d.median, min: 0, exclusiveMin: true),
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
            throw s.error("\(JSONWriter.number(g.stepTokensMean)) is out of range; expected 0 (no steps) or a mean step length ≥ 1 token", key: "step_tokens_mean")
        }
        g.stepCandidates = try s.int("step_candidates", default: g.stepCandidates, min: 0, max: 256)
        g.candidateScoreSD = try s.double("candidate_score_sd", default: g.candidateScoreSD, min: 0)
        if g.stepCandidates > 0 && g.stepTokensMean == 0 { throw s.error("needs step_tokens_mean > 0 (candidates belong to reasoning steps)", key: "step_candidates") }
        g.smallAccuracy = try s.double("small_accuracy", default: g.smallAccuracy, min: 0, max: 1)
        g.largeAccuracy = try s.double("large_accuracy", default: g.largeAccuracy, min: 0, max: 1)
        try s.finish()
        return g
    }
}
