import HandoffSupport

/// A GPU tier split into a prefill pool and a decode pool (DistServe, Splitwise; vLLM's and
/// SGLang's P/D disaggregation, NVIDIA Dynamo, llm-d): a request's turn on the tier prefills on a
/// prefill replica, which also emits its first token; its KV then moves over the link to a decode
/// replica, which decodes the rest. Each pool has its own replicas, GPU, tensor parallelism and
/// engine limits; the tier's model, latency law, memory share and prefix caching are shared.
///
/// YAML (`tiers.<t>.disaggregated`, docs/scenario.md):
/// `{prefill_replicas, decode_replicas, kv_link_gbps, kv_link_latency_ms, prefill: {...}, decode: {...}}`,
/// where `prefill` and `decode` may set `gpu`, `tensor_parallel`, `max_num_seqs` and
/// `max_num_batched_tokens` (the tier's by default).
public struct Disaggregation: Sendable, Equatable {
    public enum PoolKind: String, Sendable, CaseIterable { case prefill, decode }

    /// One pool's deployment.
    public struct Pool: Sendable, Equatable {
        public var replicas: Int
        public var gpu: GPUSpec
        public var tensorParallel: Int
        public var maxNumSeqs: Int
        public var maxNumBatchedTokens: Int
        /// $ per GPU-hour: the tier's price (`cost.<tier>.usd_per_gpu_hour` or its GPU's list
        /// price) on the tier's GPU, the pool GPU's list price on another.
        public var usdPerGpuHour: Double

        public init(
            replicas: Int, gpu: GPUSpec, tensorParallel: Int, maxNumSeqs: Int, maxNumBatchedTokens: Int,
            usdPerGpuHour: Double
        ) {
            self.replicas = replicas
            self.gpu = gpu
            self.tensorParallel = tensorParallel
            self.maxNumSeqs = maxNumSeqs
            self.maxNumBatchedTokens = maxNumBatchedTokens
            self.usdPerGpuHour = usdPerGpuHour
        }
    }

    public var prefill: Pool
    public var decode: Pool
    /// Bandwidth of each prefill replica's link to the decode pool, in Gbit/s: its transfers go
    /// one at a time (a FIFO per prefill replica).
    public var kvLinkGbps: Double
    /// Fixed cost of one transfer (setup, the first byte's trip), in milliseconds.
    public var kvLinkLatencyMs: Double

    public init(prefill: Pool, decode: Pool, kvLinkGbps: Double, kvLinkLatencyMs: Double) {
        self.prefill = prefill
        self.decode = decode
        self.kvLinkGbps = kvLinkGbps
        self.kvLinkLatencyMs = kvLinkLatencyMs
    }

    public subscript(kind: PoolKind) -> Pool { kind == .prefill ? prefill : decode }

    /// Seconds the link takes to move `tokens` KV tokens of `bytesPerToken` bytes each (without
    /// the fixed latency).
    public func transferSeconds(tokens: Int, bytesPerToken: Double) -> Double {
        Double(tokens) * bytesPerToken * 8 / (kvLinkGbps * 1e9)
    }
}

extension TierSpec {
    /// The tier as pool `kind` runs it: the pool's replicas, GPU, tensor parallelism and limits,
    /// not disaggregated. A tier that is not disaggregated is its own (only) pool.
    public func pool(_ kind: Disaggregation.PoolKind) -> TierSpec {
        guard let d = disaggregation else { return self }
        let p = d[kind]
        var t = self
        t.disaggregation = nil
        t.replicas = p.replicas
        t.gpu = p.gpu
        t.tensorParallel = p.tensorParallel
        t.maxNumSeqs = p.maxNumSeqs
        t.maxNumBatchedTokens = p.maxNumBatchedTokens
        t.cost.usdPerGpuHour = p.usdPerGpuHour
        return t
    }

    /// The tier's pools: prefill then decode when disaggregated, else the tier itself.
    public var pools: [TierSpec] {
        disaggregation == nil ? [self] : Disaggregation.PoolKind.allCases.map { pool($0) }
    }

    /// GPUs the tier holds: every pool's replicas × tensor parallelism.
    public var gpuCount: Int { pools.reduce(0) { $0 + $1.replicas * $1.tensorParallel } }

    /// $ per hour for the tier's GPUs (before billing rules: colocation, unused tiers).
    public var usdPerHour: Double {
        pools.reduce(0) { $0 + Double($1.replicas * $1.tensorParallel) * $1.cost.usdPerGpuHour }
    }
}
