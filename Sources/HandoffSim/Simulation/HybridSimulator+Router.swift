import HandoffModel
import HandoffSupport

/// Routing to a tier's replicas: `least_loaded` (the fewest outstanding sequences, chosen when a
/// sequence first reaches the tier), `shared_queue` (one FIFO per tier, drained by whichever
/// replica has a free slot), and `prefix_affinity` (`HybridSimulator+PrefixBlocks.swift`).
extension Simulator {
    /// Shared-queue routing: replica `r` takes sequences from its tier's queue while it has a free
    /// slot and nothing waiting.
    @inline(__always) func takeFromTierQueue(_ r: ReplicaID) {
        let t = replicas[r].tier
        while tierQueueHead[t] < tierQueue[t].count, replicas[r].waitingCount == 0, slotsUsed(r) < replicas[r].maxSeqs {
            let s = tierQueue[t][tierQueueHead[t]]
            tierQueueHead[t] += 1
            seqs[s].inTierQueue = false
            let i = seqs[s].request
            if reqs[i].failed || reqs[i].done >= 0 { continue }
            seqs[s].replica = r
            _ = deliver(s)
        }
    }

    /// Chooses a replica for a sequence the first time its tier sees it: the least loaded.
    func place(_ s: SequenceID) {
        guard !seqs[s].replica.exists else { return }
        let t = roleTier[seqs[s].role]
        if sharedQueue[t] { return }  // dispatched on arrival at the tier, or from its queue
        if cachesBlocks && tierPrefixAffinity[t] && seqs[s].role == .entry {
            seqs[s].replica = prefixAffinityReplica(tier: t, request: seqs[s].request)
            return
        }
        let pool = poolReplicas(s, tier: t)
        var best = pool.lowerBound
        for r in pool where replicas[r].load < replicas[best].load { best = r }
        seqs[s].replica = best
    }

    /// Running sequences of replica `r` that have work (the ones holding a `max_num_seqs` slot). O(1).
    @inline(__always) func working(_ r: ReplicaID) -> Int { replicas[r].active.count }

    /// Outstanding slots of replica `r`: sequences with work plus the waiting ones.
    func slotsUsed(_ r: ReplicaID) -> Int { working(r) + replicas[r].waitingCount }

    /// Shared-queue routing: the first replica of tier `t` with a free slot, or `.none`.
    func freeReplica(tier t: TierID) -> ReplicaID {
        for r in tierReplicas(t) where slotsUsed(r) < replicas[r].maxSeqs { return r }
        return .none
    }

    /// Tier `t`'s replicas (empty for an API tier).
    @inline(__always) func tierReplicas(_ t: TierID) -> Range<ReplicaID> { tierFirstReplica[t]..<tierEnd(t) }

    /// The end of tier `t`'s replicas (the next tier's first).
    @inline(__always) func tierEnd(_ t: TierID) -> ReplicaID { tierFirstReplica[t.advanced(by: 1)] }

    /// Request `i`'s sequence on `role`'s tier: one per role, from its `seqBase`.
    @inline(__always) func sequence(of i: RequestID, role: RoleID) -> SequenceID {
        reqs[i].seqBase.advanced(by: role.index)
    }
}
