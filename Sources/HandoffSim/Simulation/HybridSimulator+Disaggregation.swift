import HandoffModel
import HandoffSupport

/// A tier split into a prefill pool and a decode pool (`tiers.<t>.disaggregated`; DistServe,
/// Splitwise, vLLM's and SGLang's P/D disaggregation).
///
/// Each role on a split tier has two sequences: the role's own (`sequence(of:role:)`), which
/// the prefill pool serves, and a decode sequence (`decodeSequence(of:role:)`) in the decode pool.
/// A turn on the tier (a segment reaching it) prefills on a prefill replica, routed least loaded
/// in that pool, which also emits the turn's first token. The decoding that remains moves to the
/// decode sequence, and the prefill replica sends the KV the decode side lacks (the prefill
/// sequence's KV less what the decode sequence still holds) over its link: transfers from one
/// prefill replica go one after another, each `kv_link_latency_ms` plus bytes / `kv_link_gbps`.
/// The prefill replica holds the KV until the transfer ends, then parks it (prefix caching) or
/// frees it. On arrival the decode sequence joins its decode replica's waiting queue (the same
/// replica as before, or the least loaded); admission allocates the transferred KV as it
/// allocates a prompt's blocks, and the sequence is ready to decode at once, with no prefill.
/// Adjacent segments of the role keep decoding on the decode replica; the role's next turn after
/// another tier's segment prefills on the prefill pool again. Handoffs between tiers keep their
/// semantics: text is re-sent and re-prefilled (different models cannot share KV).
///
/// Simplifications (docs/model.md, "Disaggregated prefill and decode"): KV waiting for admission
/// on the decode side is counted in neither pool (vLLM's connector keeps it in the prefill
/// replica until the decode side pulls it); KV a waiting decode sequence loses to eviction is
/// taken as transferred with the rest, at no extra link time; a preempted decode sequence
/// recomputes its context on the decode replica, as vLLM does.
extension Simulator {
    /// Per-replica pool flags, link clocks and decode-pool starts.
    func prepareDisaggregation() {
        let tiers = IDArray<TierID, TierSpec>(scenario.tiers)
        tierDecodeFirst = IDArray(
            tiers.ids.map { t in
                tiers[t].disaggregation.map { tierFirstReplica[t].advanced(by: $0.prefill.replicas) } ?? tierEnd(t)
            })
        guard disaggregates else { return }
        prefillPool = [Bool](repeating: false, count: replicas.count)
        for t in tiers.ids where tiers[t].disaggregation != nil {
            for r in tierFirstReplica[t]..<tierDecodeFirst[t] { prefillPool[r.index] = true }
        }
        linkFree = [Double](repeating: 0, count: replicas.count)
        transfers = IDArray(repeating: KVTransfers(), count: tiers.count)
    }

    /// What a split tier cannot do in this simulator, refused before the run.
    func checkDisaggregation() throws {
        guard disaggregates else { return }
        if pipelined {
            throw HandoffError.input(
                "a pipelined policy streams chunks to resident contexts, which a tier split into prefill and decode pools does not model; drop the tier's 'disaggregated' section or use mode: sequential",
                field: "tiers.\(scenario.tiers.first { $0.disaggregation != nil }!.name).disaggregated")
        }
    }

    /// Request `i`'s decode sequence for `role` (whose tier is split).
    @inline(__always) func decodeSequence(of i: RequestID, role: RoleID) -> SequenceID {
        reqs[i].seqBase.advanced(by: roleDecodeOffset[role])
    }

    /// Is `s` a decode sequence (not its role's own)?
    @inline(__always) func isDecodeSequence(_ s: SequenceID) -> Bool {
        s.index - reqs[seqs[s].request].seqBase.index >= policy.roles.count
    }

    /// The replicas sequence `s` may run on in tier `t`: the pool it belongs to when `t` is split.
    @inline(__always) func poolReplicas(_ s: SequenceID, tier t: TierID) -> Range<ReplicaID> {
        guard disaggregates, tierDecodeFirst[t] != tierEnd(t) else { return tierReplicas(t) }
        return isDecodeSequence(s) ? tierDecodeFirst[t]..<tierEnd(t) : tierFirstReplica[t]..<tierDecodeFirst[t]
    }

    /// Request `i`'s sequences: one per role, then the split roles' decode sequences.
    @inline(__always) func requestSequences(_ i: RequestID) -> Range<SequenceID> {
        reqs[i].seqBase..<reqs[i].seqBase.advanced(by: sequencesPerRequest)
    }

    /// A prefill replica's sequence `s` finished its prefill and emitted the turn's first token,
    /// with tokens left to decode: the decoding moves to its decode sequence and the KV starts
    /// over replica `r`'s link (after the transfers before it).
    func handOver(_ s: SequenceID, from r: ReplicaID) {
        let i = seqs[s].request
        let role = seqs[s].role
        let d = decodeSequence(of: i, role: role)
        seqs[d].decodeLeft = seqs[s].decodeLeft
        seqs[d].width = seqs[s].width
        seqs[d].scoring = false
        seqs[s].decodeLeft = 0
        let t = roleTier[role]
        let spec = scenario.tier(t)
        let split = spec.disaggregation!
        let tokens = max(0, seqs[s].kv - seqs[d].kv)
        let start = max(now, linkFree[r.index])
        let end = start + split.transferSeconds(tokens: tokens, bytesPerToken: spec.model.kvBytesPerToken)
        linkFree[r.index] = end
        let arrives = end + split.kvLinkLatencyMs / 1000
        transfers[t].count += 1
        transfers[t].tokens += tokens
        transfers[t].seconds += arrives - now
        transfers[t].maxSeconds = max(transfers[t].maxSeconds, arrives - now)
        transfers[t].linkBusySeconds += end - start
        schedule(arrives, .kvArrive, r.index, d.argument)
    }

    /// Decode sequence `d`'s KV arrived: the prefill replica lets its copy go, and `d` waits for
    /// admission on its decode replica.
    func kvArrive(_ d: SequenceID) {
        let i = seqs[d].request
        if reqs[i].failed || reqs[i].done >= 0 { return }
        let p = sequence(of: i, role: seqs[d].role)
        let sent = seqs[p].kv
        let pr = seqs[p].replica
        if seqs[p].place == .running {
            retire(p)
            poke(pr)
        }
        place(d)
        let r = seqs[d].replica
        switch seqs[d].place {
        case .parked: replicas[r].unpark(d, in: seqs.view)
        case .running: removeRunning(d, replica: r)
        case .waiting: replicas[r].removeWaiting(d, in: seqs.view)
        case .none: break
        }
        seqs[d].pendingPrefill = max(0, sent - seqs[d].kv)
        transferIn[d.index] = seqs[d].pendingPrefill > 0
        replicas[r].enqueue(d, in: seqs.view)
        poke(r)
    }

    /// Admission of decode sequence `s` whose KV came over the link: the KV is allocated and held
    /// (no prefill to compute), so it is ready to decode.
    @inline(__always) func receiveKV(_ s: SequenceID, replica r: ReplicaID) {
        transferIn[s.index] = false
        seqs[s].kv += seqs[s].pendingPrefill
        replicas[r].kvUsed += seqs[s].pendingPrefill
        seqs[s].pendingPrefill = 0
    }
}

/// A split tier's KV transfers over the run: how many, the tokens moved, the seconds from a
/// transfer's request to its arrival (queueing on the link included; sum and worst), and the
/// seconds the links were busy.
struct KVTransfers {
    var count = 0
    var tokens = 0
    var seconds = 0.0
    var maxSeconds = 0.0
    var linkBusySeconds = 0.0
}

extension Simulator {
    /// Split tier `t`'s pools and transfers, for its `TierOutcome`.
    func splitOutcome(_ t: TierID, into o: inout TierOutcome) {
        var pools: [PoolOutcome] = []
        for range in [tierFirstReplica[t]..<tierDecodeFirst[t], tierDecodeFirst[t]..<tierEnd(t)] {
            let rs = replicas[range]
            pools.append(
                PoolOutcome(
                    peakKVTokens: rs.map(\.peakKV).max() ?? 0, busySeconds: rs.reduce(0) { $0 + $1.busySeconds },
                    iterations: rs.reduce(0) { $0 + $1.iterations }, preemptions: rs.reduce(0) { $0 + $1.preemptions }))
        }
        o.pools = pools
        let x = transfers[t]
        o.kvTransfers = KVTransferOutcome(
            count: x.count, tokens: x.tokens, meanSeconds: x.count > 0 ? x.seconds / Double(x.count) : 0,
            maxSeconds: x.maxSeconds, linkBusySeconds: x.linkBusySeconds)
    }
}
