import HandoffModel
import HandoffSupport

/// An entry of a replica's waiting queue or idle heap: a sequence and the stamp it had when the
/// entry was made. An entry whose stamp no longer matches the sequence's is stale and skipped
/// (removal from the middle of a queue is O(1): the entry is left behind as a tombstone).
struct QueueEntry {
    var seq: SequenceID
    var stamp: UInt32
}

/// The ends and length of a doubly linked list of sequences (the links are in `SequenceState`).
struct SequenceList {
    var head = SequenceID.none
    var tail = SequenceID.none
    var count = 0
}

/// An idle running sequence (resident KV, no work), keyed by admission order for eviction.
struct IdleEntry: HeapKeyed {
    var admittedAt: Int
    var seq: SequenceID
    var stamp: UInt32
    var heapKey: Int { admittedAt }
}

/// A lazily counted decoder in a replica's finish heap: the decode epoch at which its segment's
/// last token is decoded (`HybridSimulator+Decode.swift`).
struct FinishEntry: HeapKeyed {
    var epoch: Int
    var seq: SequenceID
    var heapKey: Int { epoch }
}

/// One engine replica running continuous batching, vLLM-style.
///
/// Each iteration: admit waiting sequences (FIFO, while `max_num_seqs` and KV memory allow),
/// batch every decoding sequence (one token each) with chunked prefill up to
/// `max_num_batched_tokens`, and take the latency model's time. KV grows by one token per decoding
/// sequence per iteration and by the chunk for prefill; when it would overflow, cached (parked)
/// contexts are evicted first, then the most recently admitted sequence is preempted and later
/// recomputed. Runs of decode-only iterations in which the batch cannot change are taken in one
/// step (`plannedIterations` > 1), so a long generation costs a few events, not one per token.
///
/// The replica owns the sets below and their moves (`Replica+Sets.swift`: the waiting queue, the
/// idle heap, the running and parked lists, lists in admission order). The scheduler that decides
/// with them is the simulator's generic parameter (Schedulers/: `VLLMScheduler`,
/// `PrefillFirstScheduler`), built from planning and ending a run of iterations in
/// `HybridSimulator+Iterations.swift`, admission, eviction and preemption in
/// `HybridSimulator+Replicas.swift` (they also keep the lazy decode sums of
/// `HybridSimulator+Decode.swift` in line). The sets are kept so that no per-event operation scans
/// a queue; `HybridSimulator+Invariants.swift` checks them after every event in the tests.
struct Replica {
    let tier: TierID
    let index: Int
    let capacity: Int
    let maxSeqs: Int
    let maxBatchedTokens: Int
    let latency: LatencyModel
    /// KV tokens admission leaves free for growth: vLLM's `watermark` (0.01 of the blocks;
    /// `BlockSpaceManager.can_allocate` admits only if free − required ≥ watermark).
    let watermark: Int

    /// Running sequences: a doubly linked list in admission order.
    var running = SequenceList()
    /// The running sequences with work, in admission order: what an iteration is built from.
    var active: [SequenceID] = []
    /// The active sequences ready to decode (prefill done), in admission order, and their widths' sum.
    var decoding: [SequenceID] = []
    var decodeWidth = 0
    /// Running sequences without work (resident contexts), a lazy min-heap by admission order.
    var idle: [IdleEntry] = []
    /// FIFO of waiting sequences from `waitingHead` on, with tombstones; `waitingCount` live ones.
    var waiting: [QueueEntry] = []
    var waitingHead = 0
    var waitingCount = 0
    /// KV tokens held by waiting sequences (cached prefixes), so eviction skips the queue when 0.
    var waitingKV = 0
    /// Waiting sequences that held KV when they joined at the back, in queue order (a lazy stack).
    var waitingWithKV: [QueueEntry] = []
    /// Parked sequences (cached prefixes, no work): a doubly linked list, least recently parked first.
    var parked = SequenceList()
    /// KV tokens held or reserved (see `SequenceState.reserved`).
    var kvUsed = 0
    /// Running sequences with a reservation left.
    var reservedSeqs = 0
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
    /// The sequences batched in the run in flight, in admission order (a lazy run: only the ones
    /// with a prefill chunk).
    var batch: [SequenceID] = []
    /// The active sequences with prefill to do, in admission order (the active list less `decoding`).
    var prefilling: [SequenceID] = []

    // Lazy decode accounting (`HybridSimulator+Decode.swift`): the decoding sequences advance by
    // a replica-wide epoch instead of one by one.
    /// The decoding sequences are counted lazily (every one of them, or they are joining).
    var lazyValid = false
    /// The run in flight was planned lazily.
    var lazyRun = false
    /// Decode iterations the lazy set has run: a member's tokens since it was last brought up to
    /// date are `epoch` − its base.
    var epoch = 0
    /// Σ width and Σ width · (kv − branch KV) over the lazy set, at `epoch`.
    var lazyWidth = 0
    var lazyContext = 0
    var lazyCount = 0
    /// Min-heap of the lazy set's finish epochs, with stale entries.
    var finishes: [FinishEntry] = []
    /// Sequences ready to decode since the lazy run in flight started: they join when it ends.
    var joining: [SequenceID] = []
    /// Lazy members whose request has no first token yet: the run that ends next gives it.
    var awaitingFirst: [SequenceID] = []

    // Statistics.
    var busySeconds = 0.0
    var iterations = 0
    var preemptions = 0
    var evictions = 0

    init(tier: TierID, index: Int, spec: TierSpec) {
        self.tier = tier
        self.index = index
        capacity = spec.kvCapacityTokens
        maxSeqs = spec.maxNumSeqs
        maxBatchedTokens = spec.maxNumBatchedTokens
        watermark = spec.kvCapacityTokens / 100
        latency = LatencyModel(
            spec: spec.latency, model: spec.model, gpu: spec.gpu, tensorParallel: spec.tensorParallel)
    }

    var free: Int { capacity - kvUsed }
    /// Outstanding sequences, for routing.
    var load: Int { running.count + waitingCount }
}
