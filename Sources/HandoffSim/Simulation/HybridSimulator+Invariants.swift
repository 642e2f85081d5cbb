import HandoffModel
import HandoffSupport

/// Self-checks of the simulator's bookkeeping across replicas, in the manner of swift-collections'
/// `Heap+Invariants`: with `checksInvariants` set, `run()` calls `checkInvariants()` after every
/// event. Each replica checks its own sets (`Replica+Invariants.swift`); here, what spans them: the
/// KV each replica's sequences hold, its waiting count, the lazy sets, the pools of split tiers.
/// O(sequences) per call, so only tests turn it on; compiled only with `HANDOFF_INTERNAL_CHECKS`
/// (debug builds: `InternalCheck.swift`), a no-op otherwise.
extension Simulator {
    /// Stops with a message naming the broken rule when the replica sets, the KV counters or a
    /// sequence's place disagree.
    public func checkInvariants() {
        #if HANDOFF_INTERNAL_CHECKS
            let held = checkSequences()
            for r in replicas.indices {
                checkCounters(r, held)
                replicas[r].checkInvariants(id: r, in: seqs.view, tracksLazy: tracksLazy)
                checkLazy(r)
            }
            for s in seqs.indices where lane[s] == Self.lanePrefilling {
                internalCheck(
                    replicas[seqs[s].replica].prefilling.contains(s), "sequence \(s): prefilling lane off the list")
            }
            let placed = seqs.indices.filter { seqs[$0].place == .running || seqs[$0].place == .parked }.count
            internalCheck(
                placed == replicas.reduce(0) { $0 + $1.running.count + $1.parked.count },
                "a sequence is in no list or two")
            if disaggregates { checkPools() }
        #endif
    }

    /// Split tiers: a role's own sequence only on its tier's prefill pool, its decode sequence only
    /// on the decode pool, and KV in transit only on decode sequences.
    func checkPools() {
        for s in seqs.indices where seqs[s].replica.exists {
            let r = seqs[s].replica
            let t = replicas[r].tier
            guard scenario.tier(t).disaggregation != nil else { continue }
            internalCheck(
                prefillPool[r.index] != isDecodeSequence(s),
                "sequence \(s): on the \(prefillPool[r.index] ? "prefill" : "decode") pool of tier \(t)")
        }
        for s in seqs.indices where transferIn[s.index] {
            internalCheck(isDecodeSequence(s) && seqs[s].place == .waiting, "sequence \(s): KV in transit off a decode queue")
        }
    }

    /// Each sequence's own fields; returns, per replica, the KV its sequences hold (with their
    /// reservations), its waiting sequences and their KV.
    func checkSequences() -> (kv: [Int], waiting: [Int], waitingKV: [Int]) {
        var kvOn = [Int](repeating: 0, count: replicas.count)
        var waitingOn = [Int](repeating: 0, count: replicas.count)
        var waitingKVOn = [Int](repeating: 0, count: replicas.count)
        for s in seqs.indices {
            let q = current(s, seqs[s])
            internalCheck(
                q.kv >= 0 && q.pendingPrefill >= 0 && q.decodeLeft >= 0, "sequence \(s): negative kv, prefill or decode"
            )
            internalCheck(
                prefixHeld.isEmpty || q.kv >= Int(prefixHeld[s.index]) * blockTokens,
                "sequence \(s): holds more prompt blocks than KV")
            internalCheck(
                lane[s] < 0 || (q.place == .running && q.decodeLeft > 0),
                "sequence \(s): a lazy member that is not decoding")
            if q.replica.exists {
                kvOn[q.replica.index] += q.kv + q.reserved
            } else {
                internalCheck(q.kv == 0, "sequence \(s) holds KV on no replica")
            }
            internalCheck(
                q.reserved >= 0 && q.reserved <= q.pendingPrefill,
                "sequence \(s): reservation \(q.reserved) beyond its prefill")
            internalCheck(q.reserved == 0 || q.place == .running, "sequence \(s): a reservation off the running set")
            if q.place == .waiting {
                waitingOn[q.replica.index] += 1
                waitingKVOn[q.replica.index] += q.kv
            }
            internalCheck(
                q.active == (q.place == .running && hasWork(s)), "sequence \(s): active flag \(q.active) disagrees")
        }
        return (kvOn, waitingOn, waitingKVOn)
    }

    /// Replica `r`'s counters against its sequences, and its waiting queue.
    func checkCounters(_ r: ReplicaID, _ held: (kv: [Int], waiting: [Int], waitingKV: [Int])) {
        let (kvOn, waitingOn, waitingKVOn) = held
        let rep = replicas[r]
        // Prompt blocks cached across requests: the cache is counted once, shared blocks once.
        let cache = blockCaches.isEmpty ? 0 : blockCaches[r.index].cachedTokens - blockCaches[r.index].sharedTokens
        if !blockCaches.isEmpty { blockCaches[r.index].check() }
        internalCheck(
            rep.kvUsed == kvOn[r.index] + cache,
            "replica \(r): kvUsed \(rep.kvUsed) ≠ Σ kv \(kvOn[r.index]) + cached − shared blocks \(cache)")
        internalCheck(
            rep.kvUsed <= rep.capacity || overflow,
            "replica \(r): kvUsed \(rep.kvUsed) above capacity \(rep.capacity)")
        let reservedSeqs = seqs.indices.filter { seqs[$0].replica == r && seqs[$0].reserved > 0 }.count
        internalCheck(
            rep.reservedSeqs == reservedSeqs, "replica \(r): reservedSeqs \(rep.reservedSeqs) ≠ \(reservedSeqs)")
        internalCheck(
            rep.waitingCount == waitingOn[r.index],
            "replica \(r): waitingCount \(rep.waitingCount) ≠ \(waitingOn[r.index]) waiting")
        internalCheck(
            rep.waitingKV == waitingKVOn[r.index],
            "replica \(r): waitingKV \(rep.waitingKV) ≠ \(waitingKVOn[r.index])")
    }

    /// Sequence `s` as it is now: a lazy member brought up to its replica's epoch (without
    /// changing the simulation).
    func current(_ s: SequenceID, _ stored: SequenceState) -> SequenceState {
        var q = stored
        guard lane[s] >= 0 else { return q }
        let d = replicas[q.replica].epoch - lane[s]
        let w = Int(q.width)
        q.kv += d * w
        q.branchKV += d * (w - 1)
        q.decodeLeft -= d
        return q
    }

    /// Replica `r`'s lazy set: members are decoding sequences, the sums are theirs, each has its
    /// live finish entry, and outside a lazy run every decoding sequence is a member.
    func checkLazy(_ r: ReplicaID) {
        let rep = replicas[r]
        let members = rep.decoding.filter { lane[$0] >= 0 }
        internalCheck(
            rep.lazyValid || (members.isEmpty && rep.lazyWidth == 0 && rep.lazyContext == 0),
            "replica \(r): lazy sums without a lazy set")
        guard rep.lazyValid else { return }
        internalCheck(
            members.count == rep.lazyCount, "replica \(r): lazyCount \(rep.lazyCount) ≠ \(members.count) members")
        internalCheck(
            seqs.indices.filter { lane[$0] >= 0 && seqs[$0].replica == r }.count == members.count,
            "replica \(r): a lazy member off the decoding list")
        var width = 0
        var context = 0
        for s in members {
            let q = current(s, seqs[s])
            width += Int(q.width)
            context += Int(q.width) * (q.kv - q.branchKV)
            internalCheck(q.kv >= q.branchKV, "sequence \(s): a lazy member with more branch KV than KV")
            internalCheck(
                rep.finishes.contains { $0.seq == s && liveFinish($0) }, "sequence \(s): no live finish entry")
        }
        internalCheck(width == rep.lazyWidth, "replica \(r): lazyWidth \(rep.lazyWidth) ≠ Σ width \(width)")
        internalCheck(context == rep.lazyContext, "replica \(r): lazyContext \(rep.lazyContext) ≠ \(context)")
        if !rep.busy {
            internalCheck(
                members.count == rep.decoding.count && rep.joining.allSatisfy { lane[$0] != Self.laneJoining },
                "replica \(r): a decoding sequence outside the lazy set between runs")
        }
    }
}
