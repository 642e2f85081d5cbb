import Foundation
import HandoffSupport

/// A model's shape: what its weights and KV cache cost in memory and FLOPs.
public struct ModelSpec: Sendable, Equatable {
    public var name: String
    public var paramsB: Double
    public var layers: Int
    public var attentionHeads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var hidden: Int
    /// Bytes per weight (bf16 = 2, fp8/int8 = 1, q4 ≈ 0.5625).
    public var weightBytes: Double
    /// Bytes per KV-cache element.
    public var kvBytes: Double
    /// The weights' number format: its bytes are `weightBytes`, and it chooses the GEMM peak
    /// (`GPUSpec.peakTFLOPS`). bf16 unless `weight_dtype` says otherwise.
    public var weightDtype = Dtype.bf16
    /// The KV cache's number format (its bytes are `kvBytes`).
    public var kvDtype = Dtype.bf16
    /// Σ over cross-attention layers of their width (LLM-Modules' bridge: 2 layers × 768): each
    /// context position adds K and V of that width to the KV cache and 4 × width attention FLOPs
    /// per token, like a self-attention layer.
    public var crossAttentionWidth = 0
    /// Parameters one token's FLOPs run through, when fewer than `paramsB` (a mixture of experts
    /// routes each token to k of E experts); nil: all of them.
    public var activeParamsB: Double? = nil
    /// Multi-head latent attention (DeepSeek-V3): KV elements per layer and token, one compressed
    /// latent for K and V (kv_lora_rank + qk_rope_head_dim); 0: K and V of kv_heads · head_dim each.
    public var mlaKVWidth = 0
    /// Mixture of experts: the routed experts' parameters (all E of them, every MoE layer), E and
    /// k (experts per token). A batch of B tokens reads only the experts it touches (LatencyModel).
    public var routedExpertParamsB = 0.0
    public var experts = 0
    public var expertsPerToken = 0

    /// A catalogue model in bf16 weights and KV.
    public init(catalog c: Catalog.Model) {
        self.init(
            name: c.name, paramsB: c.paramsB, layers: c.layers, attentionHeads: c.attentionHeads, kvHeads: c.kvHeads,
            headDim: c.headDim, hidden: c.hidden, weightBytes: 2, kvBytes: 2)
        activeParamsB = c.activeParamsB
        mlaKVWidth = c.mlaKVWidth
        routedExpertParamsB = c.routedExpertParamsB
        experts = c.experts
        expertsPerToken = c.expertsPerToken
    }

    public init(
        name: String, paramsB: Double, layers: Int, attentionHeads: Int, kvHeads: Int, headDim: Int, hidden: Int,
        weightBytes: Double, kvBytes: Double
    ) {
        self.name = name
        self.paramsB = paramsB
        self.layers = layers
        self.attentionHeads = attentionHeads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.hidden = hidden
        self.weightBytes = weightBytes
        self.kvBytes = kvBytes
    }

    /// Weight memory in bytes.
    public var weightMemory: Double { paramsB * 1e9 * weightBytes }
    /// Parameters in one token's FLOPs.
    public var computeParamsB: Double { activeParamsB ?? paramsB }
    /// KV bytes per token: 2 (K and V) × layers × kv_heads × head_dim × bytes, or MLA's layers ×
    /// latent width × bytes.
    public var kvBytesPerToken: Double {
        mlaKVWidth > 0
            ? Double(layers * mlaKVWidth + 2 * crossAttentionWidth) * kvBytes
            : 2 * Double(layers * kvHeads * headDim + crossAttentionWidth) * kvBytes
    }
}

/// A GPU's specification.
public struct GPUSpec: Sendable, Equatable {
    public var name: String
    public var memoryGiB: Double
    public var bandwidthGBs: Double
    public var tflops: Double
    public var usdPerHour: Double
    /// One-way bandwidth to the tensor-parallel peers, GB/s (0: unknown, so no tensor parallelism
    /// under the roofline law), and what a ring all-reduce gets of it and costs per call:
    /// defaults fitted to Vidur's NCCL profiles of an A100 DGX (docs/model.md, "Tensor parallelism").
    public var interconnectGBs: Double = 0
    /// Dense FP8 TFLOPS and INT8 TOPS (nil: no such tensor cores, or no public figure).
    public var fp8TFLOPS: Double? = nil
    public var int8TOPS: Double? = nil
    public var allReduceEfficiency: Double = 0.6
    public var allReduceLatencyUs: Double = 40

    public init(
        name: String, memoryGiB: Double, bandwidthGBs: Double, tflops: Double, usdPerHour: Double,
        interconnectGBs: Double = 0
    ) {
        self.name = name
        self.memoryGiB = memoryGiB
        self.bandwidthGBs = bandwidthGBs
        self.tflops = tflops
        self.usdPerHour = usdPerHour
        self.interconnectGBs = interconnectGBs
    }
}

/// How long one engine iteration takes.
public enum LatencySpec: Sendable, Equatable {
    /// max(compute, memory) from the GPU's peak FLOPS × `mfu` and bandwidth × `mbu`, plus overhead.
    /// `mfuRampTokens` = n₀ > 0: the batch's n tokens reach mfu·(1 − e^(−n/n₀)) (docs/model.md,
    /// "MFU by batch size"); 0: a constant mfu.
    case roofline(mfu: Double, mbu: Double, overheadMs: Double, mfuRampTokens: Double = 0)
    /// Measured tokens/s by phase and context length from a CSV (SplitReason's columns).
    case table(TokensPerSecondTable, decodeBatchSlope: Double, overheadMs: Double)
    /// Calibrated coefficients: fixed + per prefill token + per prefill attention pair + decode
    /// cost of B sequences + per context token read. The decode cost is `decodeMsPerSeq`·B, or,
    /// when `decodeMsByBatch` is given, its B-th entry (measured per batch size; beyond the last
    /// entry the last step is extended linearly). `prefillMsByTokens[n − 1]`, when given, replaces
    /// fixed + a·n for an iteration prefilling n ≤ its length tokens: small batches run other
    /// kernels (llama.cpp on a CPU: a 5-token batch of the 1.07B model takes 245 ms, 49 ms per
    /// token, where long prompts take 15), which is what verifying draft tokens costs.
    case linear(
        fixedMs: Double, prefillMsPerToken: Double, decodeMsPerSeq: Double, msPerContextToken: Double,
        prefillAttentionMs: Double = 0,
        decodeMsByBatch: [Double] = [], prefillMsByTokens: [Double] = [])

    /// `mfuRampTokens` meaning the roofline's ridge point, n₀ = peak·mfu·weights / (2·params·bandwidth·mbu):
    /// the batch size where a constant-MFU roofline turns compute-bound. Fitted to Vidur's profiles
    /// (docs/model.md), n₀ lands on it: 132 against 139 on an A100, 284 against 283 on an H100.
    public static let ridgeRamp = -1.0

    /// The law with every time it gives multiplied by `r` (a server `r` times slower).
    public func scaled(by r: Double) -> LatencySpec {
        switch self {
        case .roofline(let mfu, let mbu, let overhead, let ramp):
            return .roofline(mfu: mfu / r, mbu: mbu / r, overheadMs: overhead * r, mfuRampTokens: ramp)
        case .table(let t, let slope, let overhead):
            var u = t
            u.prefill = t.prefill.map { ($0.context, $0.tps / r) }
            u.decode = t.decode.map { ($0.context, $0.tps / r) }
            return .table(u, decodeBatchSlope: slope, overheadMs: overhead * r)
        case .linear(let fixed, let a, let b, let c, let e, let byBatch, let byTokens):
            return .linear(
                fixedMs: fixed * r, prefillMsPerToken: a * r, decodeMsPerSeq: b * r, msPerContextToken: c * r,
                prefillAttentionMs: e * r,
                decodeMsByBatch: byBatch.map { $0 * r }, prefillMsByTokens: byTokens.map { $0 * r })
        }
    }
}

/// The latency law of an API tier: each call takes TTFT + (tokens − 1) / rate.
public struct APISpec: Sendable, Equatable {
    public var ttftMs: Distribution
    public var tokensPerS: Distribution
}

public struct TierSpec: Sendable, Equatable {
    public enum Kind: String, Sendable { case gpu, api }
    public var name: String
    public var kind: Kind
    public var model: ModelSpec
    public var gpu: GPUSpec
    public var replicas: Int
    public var tensorParallel: Int
    public var gpuMemoryUtilization: Double
    public var maxNumSeqs: Int
    public var maxNumBatchedTokens: Int
    public var prefixCaching: Bool
    /// How the branches of a beam step share the context's KV (`shared` blocks as in vLLM, or one
    /// cache per slot as in llama-server).
    public var prefixCache: PrefixCache = .shared
    /// How a sequence new to the tier picks a replica: `least_loaded` at once (join the shortest
    /// queue), or `shared_queue`: it waits in one tier-wide FIFO until a replica has a free slot
    /// (a gateway queue; with one slot per replica, exactly an M/M/c queue).
    /// `prefix_affinity`: the replica whose cache holds the longest prefix of the request's
    /// prompt blocks (ties: the least loaded), with `request_prefix_cache`.
    public enum Routing: String, Sendable, CaseIterable { case least_loaded, shared_queue, prefix_affinity }
    public var routing: Routing = .least_loaded
    /// Cache prompt blocks across requests (vLLM's `--enable-prefix-caching`, SGLang's radix
    /// cache), from the trace's `prefix_blocks` (`BlockCache`).
    public var requestPrefixCache = false
    public var latency: LatencySpec
    public var api: APISpec?
    public var cost: CostSpec
    /// KV-cache tokens per replica when the engine fixes them (llama.cpp's `-c`), overriding the
    /// memory arithmetic.
    public var kvCapacityOverride: Int? = nil
    /// Shares the GPUs of another tier (replica k with its replica k), as two engine processes on
    /// one device do: each keeps its own `gpu_memory_utilization` share of the memory, their
    /// iterations take turns on the device, handoffs between them cross no network, and the GPUs
    /// are paid for once (by the host tier).
    public var colocateWith: String? = nil
    /// Billed for the whole run even when the policy never serves on it (`provisioned: true`): a
    /// tier kept up for other traffic. By default a tier the policy cannot use costs nothing.
    public var provisioned = false
    /// A prefill pool and a decode pool with a KV link between them (`disaggregated`), or nil.
    /// `replicas` is then the two pools' sum; `pool(_:)` gives each pool as a tier.
    public var disaggregation: Disaggregation? = nil

    /// Why tensor parallelism cannot be modelled here, or nil: the roofline law charges the
    /// all-reduces over the GPU's interconnect, which a custom GPU may not give.
    public var interconnectMissing: String? {
        guard kind == .gpu, tensorParallel > 1, case .roofline = latency, gpu.interconnectGBs <= 0 else { return nil }
        return
            "tensor_parallel \(tensorParallel) on \(gpu.name) needs its interconnect bandwidth for the all-reduces: set gpus.\(gpu.name).interconnect_gb_s (one-way GB/s: NVLink 3 300, NVLink 4 450, PCIe Gen4 x16 32)"
    }

    /// GPUs per replica.
    public var gpusPerReplica: Int { tensorParallel }
    /// Usable KV bytes per replica: memory × utilisation − weights.
    public var kvCapacityBytes: Double {
        Double(tensorParallel) * gpu.memoryGiB * 1_073_741_824 * gpuMemoryUtilization - model.weightMemory
    }
    public var kvCapacityTokens: Int { kvCapacityOverride ?? max(0, Int(kvCapacityBytes / model.kvBytesPerToken)) }
}

public struct CostSpec: Sendable, Equatable {
    public var usdPerGpuHour: Double
    public var usdPerMillionInput: Double
    public var usdPerMillionOutput: Double
    public var usdPerMillionCachedInput: Double?

    /// An API tier's bill for these tokens: input, cached input at the cached price (a tier without
    /// one bills nothing as cached: `cachedTokens`) and output.
    public func apiUSD(input: Int, cached: Int, output: Int) -> Double {
        (Double(input) * usdPerMillionInput + Double(cached) * (usdPerMillionCachedInput ?? 0)
            + Double(output) * usdPerMillionOutput) / 1e6
    }

    /// The part of a call's context billed as cached: what the request sent before, when the tier
    /// has a cached-input price.
    package func cachedTokens(sentBefore: Int) -> Int { usdPerMillionCachedInput != nil ? sentBefore : 0 }
}

public struct NetworkSpec: Sendable, Equatable {
    public var rttMs: Distribution
    public var bandwidthGbps: Double
    public var bytesPerToken: Double
}

public struct TrafficSpec: Sendable, Equatable {
    public enum Arrival: String, Sendable, CaseIterable { case poisson, gamma, constant, replay, closed_loop }
    public var arrival: Arrival
    public var rateRps: Double
    public var cv: Double
    public var concurrency: Int
    public var thinkTimeS: Double
    /// Requests to simulate (the trace is cycled when larger than the trace).
    public var requests: Int?
    /// Admission control at the frontend: an arrival finding this many requests in the system is
    /// rejected (an HTTP 429) and counted in `requests_rejected`. 0: unlimited.
    public var maxInFlight: Int = 0
    /// Whether the scenario (or a `--set`) gave `rate_rps`: a replayed trace is then scaled in
    /// time to that mean rate, keeping its burstiness; without it, it keeps its recorded times.
    public var rateGiven = false

    package init(
        arrival: Arrival, rateRps: Double, cv: Double, concurrency: Int, thinkTimeS: Double, requests: Int?,
        maxInFlight: Int = 0, rateGiven: Bool = false
    ) {
        self.arrival = arrival
        self.rateRps = rateRps
        self.cv = cv
        self.concurrency = concurrency
        self.thinkTimeS = thinkTimeS
        self.requests = requests
        self.maxInFlight = maxInFlight
        self.rateGiven = rateGiven
    }

    /// A closed loop of `concurrency` clients, each sending its next request `thinkTimeS` after
    /// its last one finished: how a live run (`validate`, `closed-loop`) drives its servers.
    public static func closedLoop(concurrency: Int, thinkTimeS: Double = 0, requests: Int) -> TrafficSpec {
        TrafficSpec(
            arrival: .closed_loop, rateRps: 1, cv: 1, concurrency: concurrency, thinkTimeS: thinkTimeS,
            requests: requests)
    }
}

public struct AccuracySpec: Sendable, Equatable {
    public var difficultyExponent: Double
    public var bootstrapSamples: Int
    /// How much of the large model's credit a small-model draft earns when a larger tier verified
    /// it before it was output (a SPECS step accepted by the target's and the reward model's
    /// scores): 1 counts it as the verifier's output, 0 as the small model's (docs/model.md).
    public var verifiedDraftCredit: Double = 1
}

public struct SLOSpec: Sendable, Equatable {
    public var ttftMs: Double?
    public var e2elMs: Double?
    /// Bound on a request's mean time per output token after the first (vLLM's TPOT).
    public var tpotMs: Double? = nil
    /// Width of the arrival-time windows whose percentiles the summary reports (`windows`).
    public var windowS: Double = 60
}

/// How finely the serving model runs (the `simulation` section).
/// The replica scheduler every GPU replica runs (`simulation.scheduler`; `HybridSimulator.run`
/// maps each to its implementation in HandoffSim's Schedulers/).
public enum SchedulerKind: String, Sendable, CaseIterable {
    /// vLLM V1 (and Sarathi-Serve): decodes first, prefill chunked into what is left of the
    /// token budget, in one batch.
    case vllm
    /// vLLM V0 without chunked prefill (and Orca-style prefill priority): whole prompts in
    /// prefill-only iterations while any prompt can be admitted; the decoders wait.
    case prefill_first
}

public struct SimulationSpec: Sendable, Equatable {
    /// The replica scheduler (default vllm).
    public var scheduler: SchedulerKind = .vllm
    /// 0: exact. N > 0: each request's plain segments run in windows of at least N tokens, one
    /// segment per role per window (`PolicyPlan.coalesced`, docs/model.md "Coarse handoffs").
    public var coalesceTokens = 0
    /// Set on a result's scenario when the coarse run rejected or failed requests and the exact
    /// run replaced it.
    public var exactRerun = false
    public init(coalesceTokens: Int = 0, scheduler: SchedulerKind = .vllm) {
        self.coalesceTokens = coalesceTokens
        self.scheduler = scheduler
    }
}

public enum TraceSource: Sendable, Equatable {
    case synthetic(SyntheticTraceSpec)
    case file(String)

    /// The trace file, when the trace is one.
    public var path: String? { if case .file(let p) = self { p } else { nil } }
}

/// Everything one simulation needs, validated. Built by `ScenarioLoader` from YAML.
public struct Scenario: Sendable {
    public var name: String
    public var description: String
    public var seed: UInt64
    public var trace: TraceSource
    /// Prompt tokens per id of a trace's `prefix_blocks` (`trace.prefix_block_tokens`; Mooncake: 512).
    public var prefixBlockTokens = 512
    public var traffic: TrafficSpec
    public var tiers: [TierSpec]
    public var network: NetworkSpec
    public var policy: any Policy
    public var accuracy: AccuracySpec
    public var slo: SLOSpec
    public var simulation = SimulationSpec()
    /// How `validate` talks to real servers, by tier name.
    public var engine: [String: EngineTierSpec] = [:]
    /// The scenario as read (after overrides), for reports.
    public var source: ConfigNode

    public func tierIndex(_ name: String) -> Int? { tiers.firstIndex(where: { $0.name == name }) }
}

/// How to drive one tier's real server (the `engine` section; used by `validate`).
public struct EngineTierSpec: Sendable, Equatable {
    public var url: String?
    public var template: String
    /// Generate exactly the requested tokens (for random-weight latency models).
    public var ignoreEOS: Bool
    public var topLogprobs: Int
    /// llama.cpp: pin each in-flight request to its own slot (`id_slot` = worker), so its calls
    /// reuse their cached prefix as a prefix cache would (needs concurrency ≤ the server's slots).
    public var pinSlots: Bool
    /// The environment variable holding the server's API key (sent as `Authorization: Bearer`;
    /// the key itself never appears in the scenario, a log or an output).
    public var apiKeyEnv: String? = nil
    /// A PEM file of the CA(s) that vouch for an `https://` server (self-signed or private CA).
    public var caFile: String? = nil

    /// A tier the `engine` section does not mention.
    public static let defaults = EngineTierSpec(
        url: nil, template: "server", ignoreEOS: false, topLogprobs: 5, pinSlots: false)

    /// The tier's connection options: the API key read from `apiKeyEnv` now. An unset or empty
    /// variable is an input error naming the field, not a request that fails with 401 later.
    /// `field` names where the variable was given (the scenario field by default).
    public func connection(
        tier: String, field: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ConnectionOptions {
        var c = ConnectionOptions(caFile: caFile)
        if let name = apiKeyEnv {
            guard let key = environment[name], !key.isEmpty else {
                throw HandoffError.input(
                    "the environment variable \(name) is not set (or empty); expected the API key of tier '\(tier)'",
                    field: field ?? "engine.\(tier).api_key_env")
            }
            c.apiKey = key
        }
        return c
    }
}
