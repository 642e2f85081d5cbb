import Foundation
import HandoffSupport

extension ScenarioLoader {
    /// `tiers`: each tier's model, GPU, latency law (or API distributions), price and engine
    /// limits; then the checks across tiers (colocation, the cost section's names).
    static func readTiers(
        _ ts: ConfigReader, _ root: ConfigNode, models: [String: ModelSpec], gpus: [String: GPUSpec],
        costSection: ConfigReader?,
        baseDir: String, catalog: Catalog
    ) throws -> [TierSpec] {
        var tiers: [TierSpec] = []
        for key in ts.keys {
            guard let t = try ts.section(key) else { continue }
            tiers.append(
                try readTier(
                    t, key: key, root, models: models, gpus: gpus, costSection: costSection, baseDir: baseDir,
                    catalog: catalog))
        }
        try ts.finish()
        for t in tiers {
            guard let host = t.colocateWith else { continue }
            let at = "tiers.\(t.name).colocate_with"
            guard let h = tiers.first(where: { $0.name == host }), h.name != t.name else {
                throw ts.error(
                    "\(at): no other tier named '\(host)' (tiers: \(tiers.map(\.name).joined(separator: ", ")))",
                    key: t.name)
            }
            guard t.kind == .gpu, h.kind == .gpu, h.colocateWith == nil, h.disaggregation == nil else {
                throw ts.error(
                    "\(at): both tiers must be GPU tiers, and '\(host)' must not itself be colocated or disaggregated", key: t.name)
            }
            guard h.gpu.name == t.gpu.name, h.replicas == t.replicas, h.tensorParallel == t.tensorParallel else {
                throw ts.error(
                    "\(at): colocated tiers need the same gpu, replicas and tensor_parallel ('\(host)': \(h.gpu.name) × \(h.replicas), tp \(h.tensorParallel); '\(t.name)': \(t.gpu.name) × \(t.replicas), tp \(t.tensorParallel))",
                    key: t.name)
            }
            let share = tiers.filter { $0.name == host || $0.colocateWith == host }.reduce(0) {
                $0 + $1.gpuMemoryUtilization
            }
            guard share <= 1 + 1e-9 else {
                throw ts.error(
                    String(
                        format:
                            "\(at): the gpu_memory_utilization of the tiers sharing '\(host)' add up to %.2f; they split one GPU's memory, so the sum must be ≤ 1",
                        share), key: t.name)
            }
        }
        if let cs = costSection {
            for k in cs.keys where !tiers.contains(where: { $0.name == k }) {
                throw cs.error("no tier named '\(k)' (tiers: \(tiers.map(\.name).joined(separator: ", ")))", key: k)
            }
            try cs.finish()
        }
        return tiers
    }

    /// One `tiers.<key>` entry.
    /// The tier's model: a key of `models`, a catalogue model, or (on an API tier) just a name.
    static func tierModel(
        _ t: ConfigReader, key: String, kind: TierSpec.Kind, models: [String: ModelSpec], catalog: Catalog
    ) throws -> ModelSpec {
        let modelKey = try t.string("model", default: key)
        if let m = models[modelKey] { return m }
        if let c = catalog.models[modelKey] { return ModelSpec(catalog: c) }
        guard kind == .api else {
            throw t.error(
                "'\(modelKey)' is neither a key of 'models' (\(models.keys.sorted().joined(separator: ", "))) nor a catalogue model",
                key: "model")
        }
        return ModelSpec(
            name: modelKey, paramsB: 0, layers: 1, attentionHeads: 1, kvHeads: 1, headDim: 1, hidden: 1, weightBytes: 0,
            kvBytes: 0)
    }

    /// The tier's GPU (none on an API tier).
    static func tierGPU(_ t: ConfigReader, kind: TierSpec.Kind, gpus: [String: GPUSpec]) throws -> GPUSpec {
        guard kind == .gpu else {
            return GPUSpec(name: "none", memoryGiB: 0, bandwidthGBs: 0, tflops: 0, usdPerHour: 0)
        }
        let g = try t.string("gpu")
        guard let spec = gpus[g] else {
            throw t.error(
                "unknown GPU '\(g)'\(ConfigReader.didYouMean(g, in: Array(gpus.keys))); known: \(gpus.keys.sorted().joined(separator: ", ")) (or define it under 'gpus')",
                key: "gpu")
        }
        return spec
    }

    /// `cost.<tier>`: the GPU's list price unless given, and API token prices.
    static func tierCost(_ costSection: ConfigReader?, key: String, gpu: GPUSpec) throws -> CostSpec {
        var cost = CostSpec(
            usdPerGpuHour: gpu.usdPerHour, usdPerMillionInput: 0, usdPerMillionOutput: 0, usdPerMillionCachedInput: nil)
        if let cs = costSection, let c = try cs.section(key) {
            cost.usdPerGpuHour = try c.double("usd_per_gpu_hour", default: gpu.usdPerHour, min: 0)
            cost.usdPerMillionInput = try c.double("usd_per_million_input_tokens", default: 0, min: 0)
            cost.usdPerMillionOutput = try c.double("usd_per_million_output_tokens", default: 0, min: 0)
            cost.usdPerMillionCachedInput = try c.optionalDouble("usd_per_million_cached_input_tokens", min: 0)
            try c.finish()
        }
        return cost
    }

    static func readTier(
        _ t: ConfigReader, key: String, _ root: ConfigNode, models: [String: ModelSpec], gpus: [String: GPUSpec],
        costSection: ConfigReader?, baseDir: String, catalog: Catalog
    ) throws -> TierSpec {
        let kind = TierSpec.Kind(rawValue: try t.string("kind", default: "gpu", oneOf: ["gpu", "api"]))!
        let model = try tierModel(t, key: key, kind: kind, models: models, catalog: catalog)
        let gpu = try tierGPU(t, kind: kind, gpus: gpus)
        let tp = try t.int("tensor_parallel", default: 1, min: 1)
        let (latency, api) = try readLatency(t, key: key, kind: kind, model: model, root: root, baseDir: baseDir)
        let cost = try tierCost(costSection, key: key, gpu: gpu)
        if kind == .gpu && !cost.usdPerGpuHour.isFinite {
            throw t.error(
                "the catalogue has no public list price for \(gpu.name); set cost.\(key).usd_per_gpu_hour", key: "gpu")
        }
        // `replicas: ''` (--set tiers.<t>.replicas=) unsets the count, as a split tier needs.
        let givesReplicas = t.node["replicas"].map { $0.scalar != "" } ?? false
        if !givesReplicas { _ = t.raw("replicas") }
        var tier = TierSpec(
            name: key, kind: kind, model: model, gpu: gpu,
            replicas: givesReplicas ? try t.int("replicas", min: 1, max: 100_000) : 1, tensorParallel: tp,
            gpuMemoryUtilization: try t.double(
                "gpu_memory_utilization", default: 0.9, min: 0, max: 1, exclusiveMin: true),
            maxNumSeqs: try t.int("max_num_seqs", default: 256, min: 1),
            maxNumBatchedTokens: try t.int("max_num_batched_tokens", default: 8192, min: 1),
            prefixCaching: try t.bool("prefix_caching", default: true), latency: latency, api: api, cost: cost)
        tier.kvCapacityOverride = try t.optionalInt("kv_capacity_tokens", min: 1)
        tier.prefixCache = PrefixCache(
            rawValue: try t.string("prefix_cache", default: "shared", oneOf: PrefixCache.allCases.map(\.rawValue)))!
        tier.routing = TierSpec.Routing(
            rawValue: try t.string("routing", default: "least_loaded", oneOf: TierSpec.Routing.allCases.map(\.rawValue))
        )!
        tier.requestPrefixCache = try t.bool("request_prefix_cache", default: false)
        tier.provisioned = try t.bool("provisioned", default: false)
        if tier.routing == .prefix_affinity && !tier.requestPrefixCache {
            throw t.error(
                "prefix_affinity routes by the replicas' caches of prompt blocks; set request_prefix_cache: true as well",
                key: "routing")
        }
        tier.colocateWith = try t.optionalString("colocate_with").flatMap { $0.isEmpty ? nil : $0 }  // "" (--set …=) unsets
        // `disaggregated: ''` (--set tiers.<t>.disaggregated=) unsets the split: the tier aggregated.
        if t.node["disaggregated"]?.scalar == "" {
            _ = t.raw("disaggregated")
        } else if let d = try t.section("disaggregated") {
            tier.disaggregation = try readDisaggregation(d, tier: tier, givesReplicas: givesReplicas, gpus: gpus)
            tier.replicas = tier.disaggregation!.prefill.replicas + tier.disaggregation!.decode.replicas
        }
        try t.finish()
        // vLLM's own rule (SchedulerConfig): a batch must be able to hold one token of every sequence.
        if tier.kind == .gpu && tier.maxNumBatchedTokens < tier.maxNumSeqs {
            throw t.error(
                "\(tier.maxNumBatchedTokens) is below max_num_seqs (\(tier.maxNumSeqs)); a batch must hold one token of every sequence, as vLLM requires",
                key: t.has("max_num_batched_tokens") ? "max_num_batched_tokens" : "max_num_seqs")
        }
        if let message = tier.interconnectMissing {
            throw t.error(message, key: "tensor_parallel")
        }
        if tier.kind == .gpu && tier.kvCapacityTokens <= 0 {
            let gib = 1_073_741_824.0
            var e = t.error(
                String(
                    format:
                        "the weights (%.1f GiB) leave no room for a KV cache in %d × %.0f GiB × %.2f; raise tensor_parallel, pick a larger GPU or a smaller weight_dtype (fp8, int4)",
                    model.weightMemory / gib, tp, gpu.memoryGiB, tier.gpuMemoryUtilization))
            e.doesNotFit = true
            throw e
        }
        return tier
    }

    /// A GPU tier's latency law (`latency`, or the calibration file it names), or an API tier's
    /// TTFT and tokens/s distributions (`api`).
    static func readLatency(
        _ t: ConfigReader, key: String, kind: TierSpec.Kind, model: ModelSpec, root: ConfigNode,
        baseDir: String
    ) throws -> (LatencySpec, APISpec?) {
        var latency = LatencySpec.linear(fixedMs: 0, prefillMsPerToken: 0, decodeMsPerSeq: 0, msPerContextToken: 0)
        var calibrationReader: ConfigReader?
        var api: APISpec? = nil
        if kind == .gpu {
            var l = try t.section("latency") ?? absent(root, "tiers.\(key).latency")
            if let cal = try l.optionalString("calibration") {
                // A file `handoff calibrate` wrote: its `latency` section replaces this one.
                try l.finish()
                let path = try l.existingPath("calibration", cal, baseDir: baseDir)
                let node = try ConfigNode.parse(
                    yaml: String(decoding: try FileIO.read(path), as: UTF8.self), origin: path)
                let cr = ConfigReader(node)
                guard let section = try cr.section("latency") else {
                    throw cr.error("a calibration file needs a 'latency' section")
                }
                calibrationReader = cr
                l = section
            }
            switch try l.string("kind", default: "roofline", oneOf: ["roofline", "table", "linear"]) {
            case "table":
                let csv = try l.string("csv")
                let csvPath = try l.existingPath("csv", csv, baseDir: baseDir)
                let tableModel = try l.string("model", default: model.name)
                let table: TokensPerSecondTable
                do {
                    table = try TokensPerSecondTable.load(csvPath: csvPath, model: tableModel)
                } catch let e as HandoffError where e.line == nil {
                    // Located where the scenario names the table (and the model looked up in it).
                    throw l.error("\(csvPath): \(e.message)", key: l.has("model") ? "model" : "csv")
                }
                latency = .table(
                    table, decodeBatchSlope: try l.double("decode_batch_slope", default: 0, min: 0),
                    overheadMs: try l.double("overhead_ms", default: 0, min: 0))
            case "linear":
                latency = .linear(
                    fixedMs: try l.double("fixed_ms", default: 0, min: 0),
                    prefillMsPerToken: try l.double("prefill_ms_per_token", min: 0),
                    decodeMsPerSeq: try l.double(
                        "decode_ms_per_seq", default: l.has("decode_ms_by_batch") ? 0 : nil, min: 0),
                    msPerContextToken: try l.double("ms_per_context_token", default: 0, min: 0),
                    prefillAttentionMs: try l.double("prefill_attention_ms", default: 0, min: 0),
                    decodeMsByBatch: try l.doubleList("decode_ms_by_batch", min: 0),
                    prefillMsByTokens: try l.doubleList("prefill_ms_by_tokens", min: 0))
            default:
                // n₀ of the MFU ramp: tokens, or `ridge` (the roofline's ridge point, resolved per GPU and model).
                var ramp = 0.0
                if let s = l.node["mfu_ramp_tokens"]?.scalar, Double(s) == nil {
                    guard s == "ridge" else {
                        throw l.error("'\(s)' is neither a number of tokens (n₀ ≥ 0) nor ridge", key: "mfu_ramp_tokens")
                    }
                    _ = try l.optionalString("mfu_ramp_tokens")
                    ramp = LatencySpec.ridgeRamp
                } else {
                    ramp = try l.double("mfu_ramp_tokens", default: 0, min: 0)
                }
                latency = .roofline(
                    mfu: try l.double("mfu", default: 0.5, min: 0, max: 1, exclusiveMin: true),
                    mbu: try l.double("mbu", default: 0.8, min: 0, max: 1, exclusiveMin: true),
                    overheadMs: try l.double("overhead_ms", default: 1, min: 0),
                    mfuRampTokens: ramp)
            }
            try l.finish()
            try calibrationReader?.finish(known: ["fit", "probes", "server", "model", "timing"])
        } else {
            guard let a = try t.section("api") else {
                throw t.error("an api tier needs an 'api' section with ttft_ms and tokens_per_s")
            }
            api = APISpec(
                ttftMs: try Distribution.read(a, "ttft_ms", default: nil),
                tokensPerS: try Distribution.read(a, "tokens_per_s", default: nil))
            try a.finish()
        }
        return (latency, api)
    }
}
