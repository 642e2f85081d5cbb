import Foundation
import HandoffModel
import HandoffSupport

/// The work of one continuous-batching iteration, as the latency model sees it.
public struct IterationLoad {
    /// Prefill tokens in the batch (all chunks).
    public var prefillTokens = 0
    /// Σ over chunks of chunk × (context before the chunk + chunk/2): attention work of prefill.
    public var prefillAttention = 0.0
    /// Σ over chunks of the context before the chunk: KV read by the chunk's attention.
    public var prefillContext = 0.0
    /// Σ over chunks of the table's time for that chunk (table model only).
    public var prefillTableSeconds = 0.0
    /// Sequences decoding one token each.
    public var decodeSeqs = 0
    /// Σ of their context lengths (KV tokens read).
    public var decodeContext = 0.0

    public init() {}
}

/// Iteration time of a replica: one of the `LatencySpec` laws applied to a model on a GPU.
///
/// - roofline: t = max(F / (tp·peak·mfu), B / (tp·bandwidth·mbu)) + overhead, with
///   F = 2·active params·(prefill + decode tokens) + 4·layers·heads·head_dim·(attention context) and
///   B = weights + KV bytes read (decode contexts, and the cached context each prefill chunk
///   attends over) and written (prefill tokens). For a mixture of experts (E experts, k per
///   token) the weights read are the dense ones plus the experts the batch's n tokens touch:
///   expert bytes · (1 − (1 − k/E)^n), the expected share of distinct experts under uniform
///   routing (each token misses a given expert with probability 1 − k/E); one token reads k/E of
///   them, a batch of 64 on DeepSeek-V3 (k/E = 8/256) 87%.
///   (Williams et al., "Roofline", CACM 2009; the LLM form as in LLM-Viewer, arXiv 2402.16363.)
///   At tensor parallelism tp > 1 each layer adds two all-reduces of the batch's activations
///   (Megatron-LM: after attention and after the MLP), in series with the compute: per call
///   latency + 2(tp − 1)/tp · tokens · hidden · 2 bytes / (interconnect · efficiency), a ring
///   all-reduce (docs/model.md, "Tensor parallelism", checks it against Vidur's NCCL profiles).
/// - table: Σ chunk / prefill_tps(context after chunk) + (decode > 0 ? (1 + slope·(B−1)) / decode_tps(mean context) : 0) + overhead.
/// - linear: fixed + a·prefill tokens + e·prefill attention (Σ chunk·(context + chunk/2)) + decode(B)
///   + c·decode context, in ms, with decode(B) = b·B or a measured per-batch-size list (the law
///   `handoff calibrate` fits; llama.cpp on a CPU takes 4× longer per step at B = 2 than at B = 1),
///   and fixed + a·n replaced by a measured cost for small prefill batches of n tokens when given.
public struct LatencyModel: Sendable {
    public let spec: LatencySpec
    let flopsPerSecond: Double
    let bytesPerSecond: Double
    let params: Double
    let attnFactor: Double
    let weights: Double
    let kvPerToken: Double
    /// Routed experts' weight bytes, and the chance one token leaves a given expert untouched (1 − k/E).
    let expertBytes: Double
    let expertMiss: Double
    /// Tensor-parallel all-reduces per iteration (roofline, tp > 1; 0 otherwise): their fixed
    /// seconds (2 · layers · latency) and seconds per token of the batch.
    let allReduceFixed: Double
    let allReducePerToken: Double

    public init(spec: LatencySpec, model: ModelSpec, gpu: GPUSpec, tensorParallel: Int) {
        var mfu = 1.0
        var mbu = 1.0
        if case .roofline(let f, let b, _, _) = spec {
            mfu = f
            mbu = b
        }
        flopsPerSecond = Double(tensorParallel) * gpu.peakTFLOPS(model.weightDtype) * 1e12 * mfu
        bytesPerSecond = Double(tensorParallel) * gpu.bandwidthGBs * 1e9 * mbu
        params = model.computeParamsB * 1e9
        // `ridge`: n₀ = peak·mfu·weights / (2·params·bandwidth·mbu), this GPU's and model's ridge point.
        if case .roofline(let f, let b, let overhead, LatencySpec.ridgeRamp) = spec {
            let ridge = params > 0 ? flopsPerSecond * model.weightMemory / (2 * params * bytesPerSecond) : 0
            self.spec = .roofline(mfu: f, mbu: b, overheadMs: overhead, mfuRampTokens: ridge)
        } else {
            self.spec = spec
        }
        attnFactor = 4 * Double(model.layers * model.attentionHeads * model.headDim + model.crossAttentionWidth)
        weights = model.weightMemory
        kvPerToken = model.kvBytesPerToken
        expertBytes = model.experts > 0 ? model.routedExpertParamsB * 1e9 * model.weightBytes : 0
        expertMiss = model.experts > 0 ? 1 - Double(model.expertsPerToken) / Double(model.experts) : 1
        if case .roofline = spec, tensorParallel > 1, gpu.interconnectGBs > 0 {
            let calls = 2 * Double(model.layers)
            let ring = 2 * Double(tensorParallel - 1) / Double(tensorParallel)
            allReduceFixed = calls * gpu.allReduceLatencyUs / 1e6
            allReducePerToken =
                calls * ring * Double(model.hidden) * 2 / (gpu.interconnectGBs * 1e9 * gpu.allReduceEfficiency)
        } else {
            allReduceFixed = 0
            allReducePerToken = 0
        }
    }

    /// Seconds the tensor-parallel all-reduces of a batch of `tokens` tokens take (0 at tp = 1).
    @inline(__always) public func allReduceSeconds(tokens: Double) -> Double {
        allReduceFixed + allReducePerToken * tokens
    }

    /// Adds a prefill chunk of `chunk` tokens after `context` tokens already in the KV cache.
    @inline(__always) public func addPrefill(_ load: inout IterationLoad, chunk: Int, context: Int) {
        load.prefillTokens += chunk
        load.prefillAttention += Double(chunk) * (Double(context) + Double(chunk) / 2)
        load.prefillContext += Double(context)
        if case .table(let t, _, _) = spec {
            load.prefillTableSeconds += Double(chunk) / t.prefillTPS(context: Double(context + chunk))
        }
    }

    /// Seconds the iteration takes.
    @inline(__always) public func seconds(_ l: IterationLoad) -> Double {
        switch spec {
        case .roofline(_, _, let overhead, let mfuRampTokens):
            let tokens = Double(l.prefillTokens + l.decodeSeqs)
            let flops = 2 * params * tokens + attnFactor * (l.prefillAttention + l.decodeContext)
            var bytes = weights + kvPerToken * (l.decodeContext + Double(l.prefillTokens) + l.prefillContext)
            // A mixture of experts reads the experts its B tokens touch: each of the E is missed by
            // all B with probability (1 − k/E)^B under uniform routing.
            if expertBytes > 0 { bytes -= expertBytes * Foundation.pow(expertMiss, tokens) }
            // A batch of n tokens reaches MFU·(1 − e^(−n/n₀)): small GEMMs do not fill the GPU.
            let compute =
                mfuRampTokens > 0
                ? flops / (flopsPerSecond * -Foundation.expm1(-tokens / mfuRampTokens)) : flops / flopsPerSecond
            let t = max(compute, bytes / bytesPerSecond) + overhead / 1000
            return allReduceFixed > 0 ? t + allReduceSeconds(tokens: tokens) : t
        case .table(let t, let slope, let overhead):
            var s = l.prefillTableSeconds + overhead / 1000
            if l.decodeSeqs > 0 {
                s +=
                    (1 + slope * Double(l.decodeSeqs - 1))
                    / t.decodeTPS(context: l.decodeContext / Double(l.decodeSeqs))
            }
            return s
        case .linear(let fixed, let a, let b, let c, let e, let byBatch, let byTokens):
            var decode = 0.0
            if l.decodeSeqs > 0 {
                if byBatch.isEmpty {
                    decode = b * Double(l.decodeSeqs)
                } else if l.decodeSeqs <= byBatch.count {
                    decode = byBatch[l.decodeSeqs - 1]
                } else {
                    let k = byBatch.count
                    let slope = k >= 2 ? byBatch[k - 1] - byBatch[k - 2] : byBatch[0]
                    decode = byBatch[k - 1] + slope * Double(l.decodeSeqs - k)
                }
            }
            let prefill =
                l.prefillTokens >= 1 && l.prefillTokens <= byTokens.count
                ? byTokens[l.prefillTokens - 1] : fixed + a * Double(l.prefillTokens)
            return (prefill + e * l.prefillAttention + decode + c * l.decodeContext) / 1000
        }
    }
}
