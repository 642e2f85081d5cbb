import HandoffModel
import HandoffSupport

extension SimulationSummary {
    /// A tier split into prefill and decode pools (`disaggregated.<tier>`): each pool's
    /// deployment, memory, utilisation and cost, and the KV transfers between them.
    public struct Split: Codable, Sendable {
        public var prefill, decode: Pool
        public var kvTransfer: Transfer
        enum CodingKeys: String, CodingKey {
            case prefill, decode
            case kvTransfer = "kv_transfer"
        }
    }
    public struct Pool: Codable, Sendable {
        public var replicas: Int
        public var gpu: String
        public var tensorParallel, gpus: Int
        public var memory: Memory
        public var utilization: Double
        public var preemptions: Int
        public var costUsd: Double
        enum CodingKeys: String, CodingKey {
            case replicas, gpu
            case tensorParallel = "tensor_parallel"
            case gpus, memory, utilization, preemptions
            case costUsd = "cost_usd"
        }
    }
    /// `mean_ms` and `max_ms` run from the end of a prefill to the KV's arrival at the decode pool
    /// (waiting for the link included); `link_busy_share` is the prefill replicas' links' busy time
    /// over the run.
    public struct Transfer: Codable, Sendable {
        public var transfers, tokens: Int
        public var gb, meanMs, maxMs, linkBusyShare: Double
        enum CodingKeys: String, CodingKey {
            case transfers, tokens, gb
            case meanMs = "mean_ms"
            case maxMs = "max_ms"
            case linkBusyShare = "link_busy_share"
        }
    }

    /// A GPU tier's (or pool's) memory per replica in GiB: weights plus its peak KV tokens, against
    /// its GPUs' memory times `gpu_memory_utilization`.
    static func memory(_ spec: TierSpec, peakKVTokens: Int) -> Memory {
        let gib = 1_073_741_824.0
        let capacity = Double(spec.tensorParallel) * spec.gpu.memoryGiB
        let peak = (spec.model.weightMemory + Double(peakKVTokens) * spec.model.kvBytesPerToken) / gib
        return Memory(
            peak: peak, capacity: capacity,
            fits: spec.kvCapacityTokens > 0 && peak <= capacity * spec.gpuMemoryUtilization + 1e-9,
            weights: spec.model.weightMemory / gib, kvPeakTokens: peakKVTokens,
            kvCapacityTokens: spec.kvCapacityTokens, colocatedWith: spec.colocateWith, api: nil)
    }

    /// Pool `p` of a split tier: memory, utilisation and cost as a tier of its own.
    static func pool(_ s: Scenario, _ spec: TierSpec, _ p: PoolOutcome, duration: Double) -> Pool {
        let memory = memory(spec, peakKVTokens: p.peakKVTokens)
        return Pool(
            replicas: spec.replicas, gpu: spec.gpu.name, tensorParallel: spec.tensorParallel,
            gpus: spec.replicas * spec.tensorParallel, memory: memory,
            utilization: duration > 0 ? p.busySeconds / (duration * Double(spec.replicas)) : 0,
            preemptions: p.preemptions,
            costUsd: s.billsTier(spec) ? Double(spec.replicas * spec.tensorParallel) * spec.cost.usdPerGpuHour * duration / 3600 : 0)
    }

    /// Every split tier's `Split`, or nil when no tier is split.
    static func splits(_ s: Scenario, _ o: SimulationOutcome) -> OrderedMap<Split>? {
        var out: [(String, Split)] = []
        for (t, tier) in s.tiers.enumerated() {
            guard let d = tier.disaggregation, let pools = o.tiers[t].pools, let x = o.tiers[t].kvTransfers else { continue }
            let bytes = Double(x.tokens) * tier.model.kvBytesPerToken
            out.append(
                (
                    tier.name,
                    Split(
                        prefill: pool(s, tier.pool(.prefill), pools[0], duration: o.endTime),
                        decode: pool(s, tier.pool(.decode), pools[1], duration: o.endTime),
                        kvTransfer: Transfer(
                            transfers: x.count, tokens: x.tokens, gb: bytes / 1e9, meanMs: x.meanSeconds * 1000,
                            maxMs: x.maxSeconds * 1000,
                            linkBusyShare: o.endTime > 0 ? x.linkBusySeconds / (o.endTime * Double(d.prefill.replicas)) : 0))
                ))
        }
        return out.isEmpty ? nil : OrderedMap(out)
    }
}
