import HandoffModel
import HandoffSupport

/// vLLM's continuous batching (the V1 scheduler, Sarathi-Serve's stall-free batching): admit
/// waiting sequences FIFO while `max_num_seqs` and KV memory allow (with the watermark), batch
/// every decoding sequence and then prefill chunks in what is left of `max_num_batched_tokens`,
/// evict cached contexts and then preempt the latest admitted when memory runs out; decode-only
/// runs in which the batch cannot change are one event, counted lazily when every decoder fits
/// (docs/model.md). The building blocks are `+Iterations`' and `+Replicas`'.
enum VLLMScheduler: ReplicaScheduler {
    @inline(__always) static func plan(_ sim: Simulator<Self>, replica r: ReplicaID) { sim.planContinuousBatch(r) }
}
