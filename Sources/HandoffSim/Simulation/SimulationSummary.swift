import HandoffModel
import HandoffSupport

/// The summary of a run, typed: every stable key of `docs/output.md`, in the order the JSON
/// writes them (declaration order; `JSONValueEncoder` keeps it). Optional sections (`slo`'s
/// attainments, `prefix_cache`, `offload_gate`, `simulation`) are left out when nil.
public struct SimulationSummary: Codable, Sendable {
    public typealias Percentiles = Statistics.Summary
    public struct Latency: Codable, Sendable { public var ttft, tpot, e2el: Percentiles }
    public struct Offload: Codable, Sendable {
        /// Where the offload shares come from (`Sources.offload`).
        public var source: String
        public var tokenFraction, requestFraction, handoffsPerRequest, segmentsPerRequest: Double
        enum CodingKeys: String, CodingKey {
            case source
            case tokenFraction = "token_fraction"
            case requestFraction = "request_fraction"
            case handoffsPerRequest = "handoffs_per_request"
            case segmentsPerRequest = "segments_per_request"
        }
    }
    /// A tier's memory in GiB; an API tier reports zeros and `api: true`.
    public struct Memory: Codable, Sendable {
        public var peak, capacity: Double
        public var fits: Bool
        public var weights: Double
        public var kvPeakTokens, kvCapacityTokens: Int
        public var colocatedWith: String?
        public var api: Bool?
        enum CodingKeys: String, CodingKey {
            case peak, capacity, fits, weights
            case kvPeakTokens = "kv_peak_tokens"
            case kvCapacityTokens = "kv_capacity_tokens"
            case colocatedWith = "colocated_with"
            case api
        }
    }
    public struct Cost: Codable, Sendable {
        public var total, per1kRequests: Double
        public var byTier: OrderedMap<Double>
        enum CodingKeys: String, CodingKey {
            case total
            case per1kRequests = "per_1k_requests"
            case byTier = "by_tier"
        }
    }
    /// `predicted` and `ci95` are null (not left out) when the trace has no outcome labels.
    public struct Accuracy: Codable, Sendable {
        /// Where the accuracy comes from (`Sources.accuracy`).
        public var source: String
        public var predicted: Double?
        public var ci95: [Double]?
        public var labeledRequests: Int
        public var smallOnly, largeOnly: Double?
        enum CodingKeys: String, CodingKey {
            case source, predicted, ci95
            case labeledRequests = "labeled_requests"
            case smallOnly = "small_only"
            case largeOnly = "large_only"
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(source, forKey: .source)
            try c.encode(predicted, forKey: .predicted)
            try c.encode(ci95, forKey: .ci95)
            try c.encode(labeledRequests, forKey: .labeledRequests)
            try c.encodeIfPresent(smallOnly, forKey: .smallOnly)
            try c.encodeIfPresent(largeOnly, forKey: .largeOnly)
        }
    }
    /// Shares of served requests within each bound the scenario's `slo` sets, and the goodput:
    /// requests per second of the run that met every bound set (DistServe's and `vllm bench serve
    /// --goodput`'s definition); nil when no bound is set.
    public struct SLO: Codable, Sendable {
        public var ttftAttainment, tpotAttainment, e2elAttainment: Double?
        public var goodputRps: Double?
        public var goodShare: Double?
        enum CodingKeys: String, CodingKey {
            case ttftAttainment = "ttft_attainment"
            case tpotAttainment = "tpot_attainment"
            case e2elAttainment = "e2el_attainment"
            case goodputRps = "goodput_rps"
            case goodShare = "good_share"
        }
    }
    /// Percentiles per window of arrival time (`slo.window_s`, 60 s by default): one p99 over a
    /// long replay hides its peaks. The worst window's p99 of TTFT and E2EL, among the windows
    /// with at least `minRequests` served requests (`judged` of `count`).
    public struct Windows: Codable, Sendable {
        public var windowS: Double
        public var count, judged: Int
        public var worstTtftP99Ms, worstE2ELP99Ms: Double
        public var worstE2ELStartS: Double
        enum CodingKeys: String, CodingKey {
            case windowS = "window_s"
            case count, judged
            case worstTtftP99Ms = "worst_ttft_p99_ms"
            case worstE2ELP99Ms = "worst_e2el_p99_ms"
            case worstE2ELStartS = "worst_e2el_window_start_s"
        }
        public static let minRequests = 10
    }
    /// What a GPU tier's replicas achieved over the run, against the peaks of their GPUs: `mfu`,
    /// model FLOPs (2 × active parameters per token prefilled or generated; attention left out)
    /// over peak FLOPs × GPUs × duration; `mbu`, weight bytes read (active weights once per
    /// iteration; KV reads left out, so a lower bound) over bandwidth × GPUs × duration.
    public struct Achieved: Codable, Sendable {
        public var mfu, mbu: Double
    }
    /// Prompt tokens looked up in the caches of blocks shared across requests, and those found:
    /// overall, with `byTier` (each tier's own, without one).
    public struct PrefixCache: Codable, Sendable {
        public var hitRate: Double
        public var hitTokens, promptTokens, evictedBlocks: Int
        public var byTier: OrderedMap<PrefixCache>?
        enum CodingKeys: String, CodingKey {
            case hitRate = "hit_rate"
            case hitTokens = "hit_tokens"
            case promptTokens = "prompt_tokens"
            case evictedBlocks = "evicted_blocks"
            case byTier = "by_tier"
        }

        init(hit: Int, lookedUp: Int, evicted: Int, byTier: OrderedMap<PrefixCache>? = nil) {
            hitRate = lookedUp > 0 ? Double(hit) / Double(lookedUp) : 0
            hitTokens = hit
            promptTokens = lookedUp
            evictedBlocks = evicted
            self.byTier = byTier
        }
    }
    public struct OffloadGate: Codable, Sendable {
        public var proposed, refused: Int
        public var refusedShare: Double
        public var refusedTokens: Int
        enum CodingKeys: String, CodingKey {
            case proposed, refused
            case refusedShare = "refused_share"
            case refusedTokens = "refused_tokens"
        }
    }
    /// How the run was simulated, when not the default: coarse handoffs, another replica scheduler.
    public struct Coarse: Codable, Sendable {
        public var coalesceTokens: Int
        public var exactRerun: Bool
        /// The replica scheduler, when not vllm.
        public var scheduler: String?
        enum CodingKeys: String, CodingKey {
            case coalesceTokens = "coalesce_tokens"
            case exactRerun = "exact_rerun"
            case scheduler
        }
    }

    /// Where the accuracy and offload figures come from (docs/output.md):
    /// - accuracy: `labels` (a single-tier deployment's own measured outcome labels), `blend` (the
    ///   accuracy model's blend of real small and large labels by offloaded difficulty, not fitted to
    ///   live runs), `closed_loop` (a fitted closed-loop model), `specs_model` (a fitted SPECS model,
    ///   docs/specs.md), `synthetic` (the generator's invented
    ///   labels), `none` (no labels for the model that runs: `predicted` is null);
    /// - offload: `trace` (recorded difficulty profiles), `closed_loop`, `specs_model`, `synthetic` (invented
    ///   profiles), `policy` (a single-tier policy: the shares are fixed by construction).
    public struct Sources: Sendable {
        public var accuracy: String
        public var offload: String

        public init(
            trace: Trace, policy: any Policy, accuracy acc: AccuracyModel.Prediction?, closedLoop: Bool,
            fitted: String? = nil
        ) {
            let synthetic = trace.difficultySource == .synthetic
            if let fitted {
                accuracy = acc == nil ? "none" : fitted
                offload = fitted
                return
            }
            if acc == nil {
                accuracy = "none"
            } else if synthetic {
                accuracy = "synthetic"
            } else if closedLoop {
                accuracy = "closed_loop"
            } else {
                accuracy = policy.roles.count == 1 ? "labels" : "blend"
            }
            if !policy.readsDifficulty {
                offload = "policy"
            } else {
                offload = synthetic ? "synthetic" : closedLoop ? "closed_loop" : "trace"
            }
        }
    }

    public var scenario: String
    /// The policy's parameters, as the policy lists them.
    public var policy: JSONValue
    public var requests, requestsFailed, requestsRejected: Int
    public var durationS, throughputRps, outputTokensPerS: Double
    public var latencyMs: Latency
    public var offload: Offload
    public var memoryGib: OrderedMap<Memory>
    public var utilization: OrderedMap<Double>
    public var achieved: OrderedMap<Achieved>
    public var preemptions: OrderedMap<Int>
    public var costUsd: Cost
    public var accuracy: Accuracy
    public var slo: SLO
    public var windows: Windows
    public var stability: Stability
    public var events: Int
    public var seed: UInt64
    public var prefixCache: PrefixCache?
    public var offloadGate: OffloadGate?
    public var simulation: Coarse?
    /// Tiers split into prefill and decode pools, when any is (`SimulationSummary+Disaggregation.swift`).
    public var disaggregated: OrderedMap<Split>?

    enum CodingKeys: String, CodingKey {
        case scenario, policy, requests
        case requestsFailed = "requests_failed"
        case requestsRejected = "requests_rejected"
        case durationS = "duration_s"
        case throughputRps = "throughput_rps"
        case outputTokensPerS = "output_tokens_per_s"
        case latencyMs = "latency_ms"
        case offload
        case memoryGib = "memory_gib"
        case utilization, achieved, preemptions
        case costUsd = "cost_usd"
        case accuracy, slo, windows, stability, events, seed
        case prefixCache = "prefix_cache"
        case offloadGate = "offload_gate"
        case simulation, disaggregated
    }

    /// The summary as JSON, keys in the fixed order.
    public var json: JSONValue {
        // Every member encodes to a JSON value; the encoder throws only for values it cannot hold.
        (try? JSONValueEncoder.encode(self)) ?? .null
    }
}
