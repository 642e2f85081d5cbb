/// Routing to a tier's replicas: `least_loaded` (the fewest outstanding sequences, chosen when a
/// sequence first reaches the tier), `shared_queue` (one FIFO per tier, drained by whichever
/// replica has a free slot), and `prefix_affinity` (`HybridSimulator+PrefixBlocks.swift`).
extension HybridSimulator {
    /// Shared-queue routing: replica `r` takes sequences from its tier's queue while it has a free
    /// slot and nothing waiting.
    @inline(__always) func takeFromTierQueue(_ r: Int) {
        let t = replicas[r].tier
        while tierQueueHead[t] < tierQueue[t].count, replicas[r].waitingCount == 0, slotsUsed(r) < replicas[r].maxSeqs {
            let s = Int(tierQueue[t][tierQueueHead[t]])
            tierQueueHead[t] += 1
            seqs[s].inTierQueue = false
            let i = Int(seqs[s].request)
            if reqs[i].failed || reqs[i].done >= 0 { continue }
            seqs[s].replica = Int32(r)
            _ = deliver(s)
        }
    }

    /// Chooses a replica for a sequence the first time its tier sees it: the least loaded.
    func place(_ s: Int) {
        guard seqs[s].replica < 0 else { return }
        let t = roleTier[Int(seqs[s].role)]
        if sharedQueue[t] { return }  // dispatched on arrival at the tier, or from its queue
        if cachesBlocks && tierPrefixAffinity[t] && seqs[s].role == 0 {
            seqs[s].replica = Int32(prefixAffinityReplica(tier: t, request: Int(seqs[s].request)))
            return
        }
        var best = tierFirstReplica[t]
        for r in tierFirstReplica[t]..<tierFirstReplica[t + 1] where replicas[r].load < replicas[best].load { best = r }
        seqs[s].replica = Int32(best)
    }

    /// Running sequences of replica `r` that have work (the ones holding a `max_num_seqs` slot). O(1).
    @inline(__always) func working(_ r: Int) -> Int { replicas[r].active.count }

    /// Outstanding slots of replica `r`: sequences with work plus the waiting ones.
    func slotsUsed(_ r: Int) -> Int { working(r) + replicas[r].waitingCount }

    /// Shared-queue routing: the first replica of tier `t` with a free slot, or -1.
    func freeReplica(tier t: Int) -> Int {
        for r in tierFirstReplica[t]..<tierFirstReplica[t + 1] where slotsUsed(r) < replicas[r].maxSeqs { return r }
        return -1
    }
}
