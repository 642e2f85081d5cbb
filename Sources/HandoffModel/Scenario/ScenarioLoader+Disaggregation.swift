import HandoffSupport

extension ScenarioLoader {
    /// `tiers.<t>.disaggregated`: the two pools and the KV link. What the simulator does not model
    /// with a split tier is refused here, not ignored: routing other than `least_loaded`, prompt
    /// blocks cached across requests, colocation, and a pool on another GPU or tensor parallelism
    /// under a latency law that does not depend on them (only `roofline` does).
    static func readDisaggregation(
        _ d: ConfigReader, tier: TierSpec, givesReplicas: Bool, gpus: [String: GPUSpec]
    ) throws -> Disaggregation {
        guard tier.kind == .gpu else { throw d.error("only a GPU tier can be split into prefill and decode pools") }
        if givesReplicas {
            throw d.error(
                "a disaggregated tier's replicas are its pools': set disaggregated.prefill_replicas and decode_replicas, not tiers.\(tier.name).replicas")
        }
        if tier.routing != .least_loaded || tier.requestPrefixCache || tier.colocateWith != nil {
            throw d.error(
                "a disaggregated tier routes least_loaded, without request_prefix_cache or colocate_with (the simulator does not model those with a split tier)")
        }
        let prefill = try readPool(d, .prefill, tier: tier, gpus: gpus)
        let decode = try readPool(d, .decode, tier: tier, gpus: gpus)
        let split = Disaggregation(
            prefill: prefill, decode: decode,
            kvLinkGbps: try d.double("kv_link_gbps", min: 0, exclusiveMin: true),
            kvLinkLatencyMs: try d.double("kv_link_latency_ms", default: 0, min: 0))
        try d.finish()
        return split
    }

    /// One pool: its replica count (`<kind>_replicas`) and its `<kind>` section's overrides.
    static func readPool(
        _ d: ConfigReader, _ kind: Disaggregation.PoolKind, tier: TierSpec, gpus: [String: GPUSpec]
    ) throws -> Disaggregation.Pool {
        var pool = Disaggregation.Pool(
            replicas: try d.int("\(kind.rawValue)_replicas", min: 1, max: 100_000), gpu: tier.gpu,
            tensorParallel: tier.tensorParallel, maxNumSeqs: tier.maxNumSeqs,
            maxNumBatchedTokens: tier.maxNumBatchedTokens, usdPerGpuHour: tier.cost.usdPerGpuHour)
        guard let p = try d.section(kind.rawValue) else { return pool }
        if let g = try p.optionalString("gpu") {
            guard let spec = gpus[g] else {
                throw p.error(
                    "unknown GPU '\(g)'\(ConfigReader.didYouMean(g, in: Array(gpus.keys))); known: \(gpus.keys.sorted().joined(separator: ", "))",
                    key: "gpu")
            }
            pool.gpu = spec
            if spec.name != tier.gpu.name {
                guard spec.usdPerHour.isFinite else {
                    throw p.error("the catalogue has no public list price for \(spec.name); pick a GPU with one", key: "gpu")
                }
                pool.usdPerGpuHour = spec.usdPerHour
            }
        }
        pool.tensorParallel = try p.int("tensor_parallel", default: tier.tensorParallel, min: 1)
        pool.maxNumSeqs = try p.int("max_num_seqs", default: tier.maxNumSeqs, min: 1)
        pool.maxNumBatchedTokens = try p.int("max_num_batched_tokens", default: tier.maxNumBatchedTokens, min: 1)
        let reshaped = pool.gpu.name != tier.gpu.name || pool.tensorParallel != tier.tensorParallel
        if reshaped, case .roofline = tier.latency {
        } else if reshaped {
            throw p.error(
                "a pool on another gpu or tensor_parallel needs the roofline latency law: tiers.\(tier.name)'s law does not depend on them, so the change would be ignored",
                key: p.has("gpu") ? "gpu" : "tensor_parallel")
        }
        try p.finish()
        if pool.maxNumBatchedTokens < pool.maxNumSeqs {
            throw d.error(
                "\(kind.rawValue): max_num_batched_tokens \(pool.maxNumBatchedTokens) is below max_num_seqs (\(pool.maxNumSeqs)), as vLLM refuses",
                key: kind.rawValue)
        }
        var asTier = tier
        asTier.gpu = pool.gpu
        asTier.tensorParallel = pool.tensorParallel
        if let message = asTier.interconnectMissing { throw d.error("\(kind.rawValue): " + message, key: kind.rawValue) }
        if asTier.kvCapacityTokens <= 0 {
            throw d.error(
                "\(kind.rawValue): the weights leave no room for a KV cache on \(pool.tensorParallel) × \(pool.gpu.name); raise its tensor_parallel or pick a larger GPU",
                key: kind.rawValue)
        }
        return pool
    }
}
