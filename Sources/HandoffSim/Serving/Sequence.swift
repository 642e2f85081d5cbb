import HandoffModel
import HandoffSupport

/// One request's presence on one tier: its KV cache there and the work it has queued.
struct SequenceState {
    enum Place: UInt8 { case none, waiting, running, parked }
    var request: RequestID
    var role: RoleID
    var replica: ReplicaID
    var place: Place = .none
    /// KV tokens computed and held on the replica.
    var kv = 0
    /// Tokens to prefill before decoding can (re)start.
    var pendingPrefill = 0
    /// KV slots allocated at admission for prefill not yet computed (≤ `pendingPrefill`; counted in
    /// the replica's `kvUsed`, like the blocks vLLM allocates for a prompt when it admits it).
    var reserved = 0
    /// Tokens still to generate in the current segment.
    var decodeLeft = 0
    /// A pipelined shadow context evicted while idle: chunks accumulate as pending prefill and
    /// are recomputed only when the request's control returns to this tier.
    var dropped = false
    /// Waiting in its tier's shared queue for a replica (shared-queue routing).
    var inTierQueue = false
    /// Admission order on the replica, for LIFO preemption.
    var admittedAt = 0
    /// Tokens generated since the last chunk was streamed to the other tier (pipelined).
    var sinceChunk = 0
    /// In the iteration in flight: the prefill chunk (> 0), decoding (−1), or not batched (0).
    var batch = 0
    /// The request's segment (index within its plan) handed to this tier and not yet delivered, or −1.
    var staged: Int32 = -1
    /// Branches decoded side by side in the current segment (`Segment.width`).
    var width: Int32 = 1
    /// KV tokens of the branches beyond the first, grown while decoding `width` > 1.
    var branchKV = 0
    /// The current segment is prefill-only: done when its prefill is.
    var scoring = false

    // Replica bookkeeping (see `HybridSimulator+Replicas.swift`).
    /// Links of the replica's running list (admission order) or parked list (LRU), whichever
    /// `place` says the sequence is on.
    var prev = SequenceID.none
    var next = SequenceID.none
    /// Tells this sequence's live entry in a waiting queue from stale ones (bumped per enqueue).
    var waitStamp: UInt32 = 0
    /// Tells this sequence's live entry in the idle heap from stale ones (bumped per push).
    var idleStamp: UInt32 = 0
    /// Running with work: in the replica's `active` list.
    var active = false
    /// Ready to decode: in the replica's `decoding` list, adding `width` to its `decodeWidth`.
    var decodeShare: Int32 = 0
}
