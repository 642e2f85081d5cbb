/// One engine replica running continuous batching, vLLM-style.
///
/// Each iteration: admit waiting sequences (FIFO, while `max_num_seqs` and KV memory allow),
/// batch every decoding sequence (one token each) with chunked prefill up to
/// `max_num_batched_tokens`, and take the latency model's time. KV grows by one token per decoding
/// sequence per iteration and by the chunk for prefill; when it would overflow, cached (parked)
/// contexts are evicted first, then the most recently admitted sequence is preempted and later
/// recomputed. Runs of decode-only iterations in which the batch cannot change are taken in one
/// step (`plannedIterations` > 1), so a long generation costs a few events, not one per token.
struct Replica {
    let tier: Int
    let index: Int
    let capacity: Int
    let maxSeqs: Int
    let maxBatchedTokens: Int
    let latency: LatencyModel
    /// KV tokens admission leaves free for growth: vLLM's `watermark` (0.01 of the blocks;
    /// `BlockSpaceManager.can_allocate` admits only if free − required ≥ watermark).
    let watermark: Int

    var running: [Int32] = []
    var waiting: [Int32] = []
    var waitingHead = 0
    /// KV tokens held by waiting sequences (cached prefixes), so eviction skips the queue when 0.
    var waitingKV = 0
    var parked: [Int32] = []
    var kvUsed = 0
    var peakKV = 0
    var admissions = 0

    // The iteration run in flight.
    var busy = false
    var runStart = 0.0
    var iterationSeconds = 0.0
    var plannedIterations = 0
    var runEnd = 0.0
    var version: UInt32 = 0
    var decodeOnlyRun = false

    // Statistics.
    var busySeconds = 0.0
    var iterations = 0
    var preemptions = 0
    var evictions = 0

    init(tier: Int, index: Int, spec: TierSpec) {
        self.tier = tier
        self.index = index
        capacity = spec.kvCapacityTokens
        maxSeqs = spec.maxNumSeqs
        maxBatchedTokens = spec.maxNumBatchedTokens
        watermark = spec.kvCapacityTokens / 100
        latency = LatencyModel(spec: spec.latency, model: spec.model, gpu: spec.gpu, tensorParallel: spec.tensorParallel)
    }

    var free: Int { capacity - kvUsed }
    var waitingCount: Int { waiting.count - waitingHead }
    /// Outstanding sequences, for routing.
    var load: Int { running.count + waitingCount }
}
