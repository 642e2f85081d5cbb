import HandoffModel
import HandoffSupport

/// A request's segments: starting each on its role's tier (a network crossing when control
/// moves), delivering the work to a replica, and what happens when a segment ends (rollback,
/// pruning, revealed tokens, the next segment or the request's end); releasing a request's
/// sequences when it completes or fails.
extension Simulator {
    /// Starts the current segment of request `i` on its role's tier; a parallel group starts all
    /// its segments at once, and `seg` moves to the group's last one.
    func startSegment(_ i: RequestID, from prev: SequenceID?, handoff: Bool) {
        var k = Int(reqs[i].seg)
        reqs[i].pending = 1
        while segments[Int(reqs[i].segFirst) + k].joinsNext && k + 1 < Int(reqs[i].segCount) {
            startOne(i, index: k, from: prev, handoff: handoff)
            k += 1
            reqs[i].pending += 1
        }
        reqs[i].seg = Int32(k)
        startOne(i, index: k, from: prev, handoff: handoff)
    }

    func startOne(_ i: RequestID, index k: Int, from prev: SequenceID?, handoff: Bool) {
        let seg = segments[Int(reqs[i].segFirst) + k]
        let role = gated && reqs[i].refusedSeg == Int32(k) ? .entry : seg.roleID
        let s = sequence(of: i, role: role)
        let tierIdx = roleTier[role]
        let isAPI = tierIsAPI[tierIdx]
        var delay = 0.0
        if role != reqs[i].location || (!handoff && role.isOffload) {
            if handoff { reqs[i].handoffs += 1 }
            let payload: Int
            materialise(s)
            if pipelined, let prev { payload = seqs[prev].sinceChunk } else { payload = reqs[i].context - seqs[s].kv }
            delay = isAPI || colocated(roleTier[reqs[i].location], tierIdx) ? 0 : oneWay(tokens: payload)
            if pipelined, let prev {
                reqs[i].stagedHandoff = seqs[prev].sinceChunk
                seqs[prev].sinceChunk = 0
            }
        }
        if role.isOffload { reqs[i].offloadSegments += 1 }
        reqs[i].location = role
        if isAPI {
            startAPICall(i, seg, role: role, tier: tierIdx)
            return
        }
        if !mergedHandoffs.isEmpty { delay += mergedWait(Int(mergedHandoffs[Int(reqs[i].segFirst) + k])) }
        seqs[s].staged = Int32(k)
        place(s)
        schedule(now + delay, .seqArrive, 0, s.argument)
    }

    /// What `n` handoffs a coarse plan merged away would have cost the request: each a mean
    /// one-way trip and, on arrival, the rest of the receiving tier's iteration in flight (half
    /// of one, the tiers taking turns). Iteration lengths are each tier's replicas' latest.
    func mergedWait(_ n: Int) -> Double {
        guard n > 0 else { return 0 }
        var iteration = 0.0
        for t in roleTier.elements.prefix(2) {
            let range = tierReplicas(t)
            if !range.isEmpty {
                iteration += range.reduce(0.0) { $0 + replicas[$1].iterationSeconds } / Double(range.count) / 2
            }
        }
        return Double(n) * (scenario.network.rttMs.mean / 2000 + iteration / 2)
    }

    /// A sequence's work reaches its replica.
    func seqArrive(_ s: SequenceID) {
        let r = deliver(s)
        if r.exists { poke(r) }
    }

    /// Hands a sequence's staged work to its replica's queue (choosing the replica under
    /// shared-queue routing, or parking the sequence in the tier queue). Returns the replica or `.none`.
    func deliver(_ s: SequenceID) -> ReplicaID {
        let i = seqs[s].request
        if reqs[i].failed || reqs[i].done >= 0 { return .none }
        if !seqs[s].replica.exists {
            let t = roleTier[seqs[s].role]
            let r = freeReplica(tier: t)
            if !r.exists {
                if !seqs[s].inTierQueue {
                    seqs[s].inTierQueue = true
                    tierQueue[t].append(s)
                }
                return .none
            }
            seqs[s].replica = r
        }
        let r = seqs[s].replica
        if seqs[s].staged >= 0 {
            // New work changes every counter: a lazy member leaves first (and rejoins in `sync`).
            if lane[s] >= 0 { leaveLazy(s, replica: r) }
            let seg = segments[Int(reqs[i].segFirst + seqs[s].staged)]
            seqs[s].staged = -1
            seqs[s].dropped = false
            if seg.recompute { dropKV(s, keep: 0) }
            if pipelined {
                seqs[s].pendingPrefill += reqs[i].stagedHandoff
                reqs[i].stagedHandoff = 0
                begin(seg, on: s)
            } else {
                if cachesBlocks && seqs[s].place == .none { lookUpPrefix(s, replica: r) }
                let p = rolePrefixCache[seqs[s].role].branchPrefill(
                    context: reqs[i].context, kv: seqs[s].kv, width: seg.width,
                    candidateTokens: seg.prefillOnly ? seg.branchTokens : 0,
                    base: slotBase.isEmpty ? 0 : slotBase[s.index])
                seqs[s].pendingPrefill = p.tokens + seg.width * seg.promptTokens
                if !slotBase.isEmpty { slotBase[s.index] = p.base }
                begin(seg, on: s)
                // The other slots' copies of the context sit beside it, as branch tokens do.
                seqs[s].branchKV = p.copies
                // A prefill replica always computes: with the whole context cached it recomputes
                // the last token (as vLLM does on a full prefix hit), whose logits give the first token.
                // So does a scorer that has every token cached (a tier scoring the candidates it just
                // drafted): it needs their logits, and a segment with no work would never end.
                if (seg.prefillOnly || (disaggregates && prefillPool[r.index])) && seqs[s].pendingPrefill == 0
                    && seqs[s].kv > 0
                {
                    dropKV(s, keep: seqs[s].kv - 1)
                    seqs[s].pendingPrefill = 1
                }
            }
        }
        switch seqs[s].place {
        case .parked:
            replicas[r].unpark(s, in: seqs.view)
            replicas[r].enqueue(s, in: seqs.view)
        case .none: replicas[r].enqueue(s, in: seqs.view)
        case .running: sync(s)
        case .waiting: break
        }
        return r
    }

    /// Is request `i`'s current segment silent (decoded, not output)?
    @inline(__always) func silent(_ i: RequestID) -> Bool { segments[Int(reqs[i].segFirst + reqs[i].seg)].silent }

    @inline(__always) func produce(request i: RequestID, role: RoleID, tokens n: Int) {
        reqs[i].context += n
        if silent(i) {
            reqs[i].silentRole = role
            return
        }  // decoded, in the context, not output
        reqs[i].generated += n
        if role.isOffload { reqs[i].offloaded += n }
    }

    /// The sequence `seq` (or the API call of request, when `seq` is `.none`) finished its segment.
    func segmentDone(seq: SequenceID, request i: RequestID) {
        if reqs[i].failed { return }
        if reqs[i].pending > 1 {
            // A member of a parallel group: the request waits for the others.
            reqs[i].pending -= 1
            if seq.exists { retire(seq) }
            return
        }
        let prevRole = seq.exists ? seqs[seq].role : reqs[i].location
        reqs[i].location = prevRole
        let cur = segments[Int(reqs[i].segFirst + reqs[i].seg)]
        if cur.end.rollback > 0 {
            // Dropped tokens leave the context and every KV cache. After a burst (speculative
            // verification) the verifier's own last token is in no cache yet: llama.cpp verifies
            // id_last plus the k drafts, a batch of k + 1 tokens.
            reqs[i].context -= cur.end.rollback
            clip(i, keep: reqs[i].context - (cur.burst ? 1 : 0))
        }
        if cur.end.prune { clip(i, keep: reqs[i].context) }
        if cur.end.reveal > 0 {
            // Accepted silent tokens become output now, and travel to the frontend.
            reqs[i].generated += cur.end.reveal
            if reqs[i].silentRole.isOffload { reqs[i].offloaded += cur.end.reveal }
            let arrives = now + (prevRole.isOffload ? oneWay(tokens: 0) : 0)
            if reqs[i].firstToken < 0 { reqs[i].firstToken = arrives }
            reqs[i].revealedAt = max(reqs[i].revealedAt, arrives)
        }
        reqs[i].seg += 1
        if reqs[i].seg == reqs[i].segCount {
            if prevRole.isOffload {
                // The last tokens travel back to the frontend.
                let back = tierIsAPI[roleTier[prevRole]] ? 0 : oneWay(tokens: 0)
                reqs[i].done = now
                schedule(now + back, .requestReturn, 0, i.argument)
                releaseAll(i)
            } else {
                complete(i, at: now)
            }
            return
        }
        let next = segments[Int(reqs[i].segFirst + reqs[i].seg)]
        var nextRole = next.roleID
        if gated && nextRole.isOffload && !admitOffload(i, segment: Int(reqs[i].seg)) { nextRole = .entry }
        if nextRole == prevRole && seq.exists && !next.prefillOnly && !next.joinsNext {
            // Adjacent segments on one tier: keep decoding.
            begin(next, on: seq)
            sync(seq)
            if nextRole.isOffload { reqs[i].offloadSegments += 1 }
            return
        }
        if seq.exists { retire(seq) }
        startSegment(i, from: seq.exists ? seq : nil, handoff: true)
    }

    /// Sequence `s` takes on segment `seg`'s work (its prefill, if any, is set by the caller).
    @inline(__always) func begin(_ seg: Segment, on s: SequenceID) {
        seqs[s].decodeLeft = seg.tokens
        seqs[s].width = Int32(seg.width)
        seqs[s].branchKV = 0
        seqs[s].scoring = seg.prefillOnly
    }

    /// A sequence whose segment ended leaves its replica's batch: parked with its KV as a cached
    /// prefix (prefix caching), or freed. Pipelined contexts stay resident.
    func retire(_ seq: SequenceID) {
        guard !pipelined else { return }
        let r = seqs[seq].replica
        removeRunning(seq, replica: r)
        if tierCachesPrefixes[roleTier[seqs[seq].role]] {
            replicas[r].park(seq, in: seqs.view)
        } else {
            freeSeq(seq, replica: r, cacheBlocks: true)
        }
    }

    /// Every tier of request `i` keeps at most `keep` KV tokens.
    func clip(_ i: RequestID, keep: Int) {
        for s in requestSequences(i) {
            dropKV(s, keep: keep)
            changeKV(s) { seqs[s].branchKV = 0 }
        }
    }

    /// Sequence `s` keeps `keep` of its KV tokens (≤ its KV), freeing the rest.
    func dropKV(_ s: SequenceID, keep: Int) {
        let r = seqs[s].replica
        guard r.exists else { return }
        changeKV(s) {
            guard seqs[s].kv > keep else { return }
            if cachesBlocks && keep < Int(prefixHeld[s.index]) * blockTokens {
                releasePromptBlocks(s, replica: r, keep: false)
            }
            let drop = seqs[s].kv - keep
            replicas[r].kvUsed -= drop
            if seqs[s].place == .waiting { replicas[r].waitingKV -= drop }
            seqs[s].kv = keep
        }
    }

    func complete(_ i: RequestID, at t: Double) {
        let t = max(t, reqs[i].revealedAt)
        if reqs[i].done < 0 || reqs[i].done <= t { reqs[i].done = t }
        inFlight -= 1
        releaseAll(i)
        nextClosedLoopArrival(at: t + scenario.traffic.thinkTimeS)
    }

    func releaseAll(_ i: RequestID) {
        for s in requestSequences(i) {
            let r = seqs[s].replica
            guard r.exists else { continue }
            switch seqs[s].place {
            case .running:
                removeRunning(s, replica: r)
                freeSeq(s, replica: r, cacheBlocks: true)
            case .waiting:
                replicas[r].removeWaiting(s, in: seqs.view)
                freeSeq(s, replica: r, cacheBlocks: true)
            case .parked:
                replicas[r].unpark(s, in: seqs.view)
                freeSeq(s, replica: r, cacheBlocks: true)
            case .none: freeSeq(s, replica: r, cacheBlocks: true)
            }
            seqs[s].pendingPrefill = 0
            seqs[s].decodeLeft = 0
            if disaggregates { transferIn[s.index] = false }
            poke(r)
        }
    }

    func fail(_ i: RequestID) {
        if !reqs[i].rejected { inFlight -= 1 }
        reqs[i].failed = true
        reqs[i].done = now
        releaseAll(i)
        nextClosedLoopArrival(at: now)
    }
}
