import HandoffModel
import HandoffSupport

/// Prompt blocks shared across requests (`tiers.<t>.request_prefix_cache`, trace `prefix_blocks`):
/// where a sequence finds its prompt's leading blocks cached, where it publishes the blocks it
/// computed, and where it lets go of them. The data structure is `BlockCache`; docs/model.md,
/// "Prefix caching across requests", gives the rules:
///
/// - on its first delivery to a replica, a request's entry sequence looks up its prompt's full
///   blocks; the resident prefix (all but the prompt's last token at most, as vLLM recomputes one)
///   becomes its KV and is not prefilled;
/// - when its prompt prefill completes, the rest of its full prompt blocks become resident
///   (referenced), so a request arriving later finds them while this one still runs;
/// - a request that ends leaves its blocks cached (LRU); a preempted or evicted sequence drops its
///   references without caching (its blocks stay only while another sequence holds them);
/// - under KV pressure cached blocks go first, least recently released first.
extension Simulator {
    /// Builds the per-request block lists and the per-sequence counters when some tier caches
    /// prompt blocks across requests. O(blocks in the trace).
    func preparePrefixBlocks() {
        guard cachesBlocks else { return }
        prefixHeld = [Int32](repeating: 0, count: seqs.count)
        blockIDs = []
        blockStart = [0]
        for q in trace.requests {
            blockIDs.append(contentsOf: q.prefixBlocks ?? [])
            blockStart.append(blockIDs.count)
        }
    }

    /// The full prompt blocks of request `i` (a prompt's partial last block is never shared).
    @inline(__always) func promptBlocks(_ i: RequestID) -> ArraySlice<Int> {
        let tr = Int(reqs[i].trace)
        let lo = blockStart[tr]
        let hi = blockStart[tr + 1]
        let full = min(hi - lo, trace.requests[tr].promptTokens / blockTokens)
        return blockIDs[lo..<(lo + full)]
    }

    /// Outstanding requests by which a replica may exceed the least loaded one and still be chosen
    /// for its cache (SGLang's cache-aware router balances the same way: by prefix match while
    /// loads are within a threshold, by load beyond it).
    @inline(__always) static var affinityBalance: Int { 32 }

    /// Of the replicas of tier `t` within `affinityBalance` of the least loaded, the one whose
    /// cache holds the longest prefix of request `i`'s prompt blocks; among equals, the least
    /// loaded (the first on a tie). O(replicas · matched).
    @inline(never)
    func prefixAffinityReplica(tier t: TierID, request i: RequestID) -> ReplicaID {
        let blocks = promptBlocks(i)
        let range = tierReplicas(t)
        var minLoad = Int.max
        for r in range { minLoad = min(minLoad, replicas[r].load) }
        var best = ReplicaID.none
        var bestHit = -1
        for r in range where replicas[r].load <= minLoad + Self.affinityBalance {
            let hit = blockCaches[r.index].matched(blocks)
            if hit > bestHit || (hit == bestHit && replicas[r].load < replicas[best].load) {
                best = r
                bestHit = hit
            }
        }
        return best
    }

    /// On a sequence's first delivery with an empty KV: the cached prefix of its prompt becomes
    /// its KV (never the whole prompt: its last token is computed). O(matched).
    @inline(never)
    func lookUpPrefix(_ s: SequenceID, replica r: ReplicaID) {
        guard blockCachingReplica(r), seqs[s].kv == 0, prefixHeld[s.index] == 0, seqs[s].place == .none else { return }
        let i = seqs[s].request
        let prompt = trace.requests[Int(reqs[i].trace)].promptTokens
        guard reqs[i].context == prompt, reqs[i].handoffs == 0 else { return }
        let blocks = promptBlocks(i)
        let hit = min(blockCaches[r.index].matched(blocks), (prompt - 1) / blockTokens)
        blockCaches[r.index].lookedUpTokens += prompt
        guard hit > 0 else { return }
        var delta = 0
        for id in blocks.prefix(hit) { delta += blockCaches[r.index].acquire(id) }
        let tokens = hit * blockTokens
        blockCaches[r.index].hitTokens += tokens
        prefixHeld[s.index] = Int32(hit)
        seqs[s].kv = tokens
        replicas[r].kvUsed += tokens + delta
    }

    /// After a prefill completes: the sequence's remaining full prompt blocks become resident
    /// under its reference (a block another sequence made resident meanwhile is shared, and its
    /// second copy leaves `kvUsed`). O(blocks).
    @inline(never)
    func holdPromptBlocks(_ s: SequenceID, replica r: ReplicaID) {
        guard blockCachingReplica(r) else { return }
        let i = seqs[s].request
        let blocks = promptBlocks(i)
        let held = Int(prefixHeld[s.index])
        guard held < blocks.count, seqs[s].kv >= blocks.count * blockTokens else { return }
        var delta = 0
        for id in blocks.dropFirst(held) { delta += blockCaches[r.index].acquire(id) }
        prefixHeld[s.index] = Int32(blocks.count)
        replicas[r].kvUsed += delta
    }

    /// The sequence lets go of its prompt blocks, before its KV is freed: cached when its request
    /// ended (`keep`), else dropped unless another sequence still holds them. O(blocks).
    @inline(never)
    func releasePromptBlocks(_ s: SequenceID, replica r: ReplicaID, keep: Bool) {
        let held = Int(prefixHeld[s.index])
        guard held > 0 else { return }
        var delta = 0
        for id in promptBlocks(seqs[s].request).prefix(held) { delta += blockCaches[r.index].release(id, keep: keep) }
        prefixHeld[s.index] = 0
        replicas[r].kvUsed += delta
    }

    /// Frees cached blocks of replica `r`, least recently released first, until `need` KV tokens
    /// are free or none is left. O(blocks freed).
    @inline(never)
    func evictCachedBlocks(replica r: ReplicaID, need: Int) {
        while replicas[r].free < need, blockCaches[r.index].hasCached {
            replicas[r].kvUsed += blockCaches[r.index].evictOne()
        }
    }

    @inline(__always) func blockCachingReplica(_ r: ReplicaID) -> Bool { tierBlockCache[replicas[r].tier] }
}
