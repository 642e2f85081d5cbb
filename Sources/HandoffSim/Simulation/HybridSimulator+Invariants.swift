import HandoffModel
import HandoffSupport

/// Self-checks of the replica bookkeeping, in the manner of swift-collections' `Heap+Invariants`:
/// with `checksInvariants` set, `run()` calls `checkInvariants()` after every event. O(sequences)
/// per call, so only tests turn it on.
extension Simulator {
    /// Stops with a message naming the broken rule when the replica sets, the KV counters or a
    /// sequence's place disagree.
    public func checkInvariants() {
        let held = checkSequences()
        for r in replicas.indices {
            checkCounters(r, held)
            let running = checkRunningList(r)
            checkLazy(r)
            checkIdleAndParked(r, running: running)
        }
        for s in seqs.indices where lane[s] == Self.lanePrefilling {
            precondition(
                replicas[seqs[s].replica].prefilling.contains(s),
                "sequence \(s): prefilling lane off the list")
        }
        let placed = seqs.indices.filter { seqs[$0].place == .running || seqs[$0].place == .parked }.count
        precondition(
            placed == replicas.reduce(0) { $0 + $1.running.count + $1.parked.count }, "a sequence is in no list or two")
    }

    /// Each sequence's own fields; returns, per replica, the KV its sequences hold (with their
    /// reservations), its waiting sequences and their KV.
    func checkSequences() -> (kv: [Int], waiting: [Int], waitingKV: [Int]) {
        var kvOn = [Int](repeating: 0, count: replicas.count)
        var waitingOn = [Int](repeating: 0, count: replicas.count)
        var waitingKVOn = [Int](repeating: 0, count: replicas.count)
        for s in seqs.indices {
            let q = current(s, seqs[s])
            precondition(
                q.kv >= 0 && q.pendingPrefill >= 0 && q.decodeLeft >= 0, "sequence \(s): negative kv, prefill or decode"
            )
            precondition(
                prefixHeld.isEmpty || q.kv >= Int(prefixHeld[s.index]) * blockTokens,
                "sequence \(s): holds more prompt blocks than KV")
            precondition(
                lane[s] < 0 || (q.place == .running && q.decodeLeft > 0),
                "sequence \(s): a lazy member that is not decoding")
            if q.replica.exists {
                kvOn[q.replica.index] += q.kv + q.reserved
            } else {
                precondition(q.kv == 0, "sequence \(s) holds KV on no replica")
            }
            precondition(
                q.reserved >= 0 && q.reserved <= q.pendingPrefill,
                "sequence \(s): reservation \(q.reserved) beyond its prefill")
            precondition(q.reserved == 0 || q.place == .running, "sequence \(s): a reservation off the running set")
            if q.place == .waiting {
                waitingOn[q.replica.index] += 1
                waitingKVOn[q.replica.index] += q.kv
            }
            precondition(
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
        precondition(
            rep.kvUsed == kvOn[r.index] + cache,
            "replica \(r): kvUsed \(rep.kvUsed) ≠ Σ kv \(kvOn[r.index]) + cached − shared blocks \(cache)")
        precondition(
            rep.kvUsed <= rep.capacity || overflow,
            "replica \(r): kvUsed \(rep.kvUsed) above capacity \(rep.capacity)")
        precondition(rep.kvUsed >= 0, "replica \(r): negative kvUsed")
        let reservedSeqs = seqs.indices.filter { seqs[$0].replica == r && seqs[$0].reserved > 0 }.count
        precondition(
            rep.reservedSeqs == reservedSeqs, "replica \(r): reservedSeqs \(rep.reservedSeqs) ≠ \(reservedSeqs)")
        precondition(
            rep.waitingCount == waitingOn[r.index],
            "replica \(r): waitingCount \(rep.waitingCount) ≠ \(waitingOn[r.index]) waiting")
        precondition(
            rep.waitingKV == waitingKVOn[r.index],
            "replica \(r): waitingKV \(rep.waitingKV) ≠ \(waitingKVOn[r.index])")
        // Every waiting sequence has exactly one live entry, at or after the head.
        var entries = [SequenceID: Int]()
        for e in rep.waiting[rep.waitingHead...] where e.isLive(in: seqs.view) { entries[e.seq, default: 0] += 1 }
        precondition(
            entries.count == rep.waitingCount && entries.values.allSatisfy { $0 == 1 },
            "replica \(r): waiting queue entries")
    }

    /// Replica `r`'s running list: admission order, places, and the active, decoding and
    /// prefilling lists as its filters. Returns the list.
    func checkRunningList(_ r: ReplicaID) -> [SequenceID] {
        let rep = replicas[r]
        // Running list: admission order, places, and the active and decoding lists as its filters.
        var running: [SequenceID] = []
        var s = rep.running.head
        while s.exists {
            precondition(
                seqs[s].place == .running && seqs[s].replica == r,
                "replica \(r): running list holds \(s)")
            if let last = running.last {
                precondition(seqs[last].admittedAt < seqs[s].admittedAt, "replica \(r): running order")
            }
            running.append(s)
            s = seqs[s].next
        }
        precondition(
            running.count == rep.running.count,
            "replica \(r): running.count \(rep.running.count) ≠ \(running.count)")
        precondition(
            rep.active == running.filter { hasWork($0) }, "replica \(r): active list ≠ running with work")
        precondition(rep.decoding == running.filter { readyToDecode($0) }, "replica \(r): decoding list")
        precondition(
            rep.decodeWidth == rep.decoding.reduce(0) { $0 + Int(seqs[$1].width) }, "replica \(r): decodeWidth"
        )
        precondition(
            rep.prefilling == (tracksLazy ? rep.active.filter { !readyToDecode($0) } : []),
            "replica \(r): prefilling list ≠ active less decoding")
        precondition(
            rep.prefilling.allSatisfy { lane[$0] == Self.lanePrefilling }, "replica \(r): prefilling lanes")
        return running
    }

    /// Every idle running sequence holding KV is in the idle heap; the parked list holds parked
    /// sequences of `r`.
    func checkIdleAndParked(_ r: ReplicaID, running: [SequenceID]) {
        let rep = replicas[r]
        // Every idle running sequence holding KV is in the idle heap.
        let idle = Set(rep.idle.filter { $0.isLive(in: seqs.view) }.map(\.seq))
        for q in running where !hasWork(q) && seqs[q].kv > 0 {
            precondition(idle.contains(q), "replica \(r): idle sequence \(q) missing from the idle heap")
        }
        var parked = 0
        var s = rep.parked.head
        while s.exists {
            precondition(
                seqs[s].place == .parked && seqs[s].replica == r,
                "replica \(r): parked list holds \(s)")
            parked += 1
            s = seqs[s].next
        }
        precondition(parked == rep.parked.count, "replica \(r): parked.count")
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
        precondition(
            rep.lazyValid || (members.isEmpty && rep.lazyWidth == 0 && rep.lazyContext == 0),
            "replica \(r): lazy sums without a lazy set")
        guard rep.lazyValid else { return }
        precondition(
            members.count == rep.lazyCount, "replica \(r): lazyCount \(rep.lazyCount) ≠ \(members.count) members")
        precondition(
            seqs.indices.filter { lane[$0] >= 0 && seqs[$0].replica == r }.count == members.count,
            "replica \(r): a lazy member off the decoding list")
        var width = 0
        var context = 0
        for s in members {
            let q = current(s, seqs[s])
            width += Int(q.width)
            context += Int(q.width) * (q.kv - q.branchKV)
            precondition(q.kv >= q.branchKV, "sequence \(s): a lazy member with more branch KV than KV")
            precondition(
                rep.finishes.contains { $0.seq == s && liveFinish($0) }, "sequence \(s): no live finish entry")
        }
        precondition(width == rep.lazyWidth, "replica \(r): lazyWidth \(rep.lazyWidth) ≠ Σ width \(width)")
        precondition(context == rep.lazyContext, "replica \(r): lazyContext \(rep.lazyContext) ≠ \(context)")
        for (k, e) in rep.finishes.enumerated() where k > 0 {
            precondition(rep.finishes[(k - 1) / 2].epoch <= e.epoch, "replica \(r): finish heap order")
        }
        if !rep.busy {
            precondition(
                members.count == rep.decoding.count && rep.joining.allSatisfy { lane[$0] != Self.laneJoining },
                "replica \(r): a decoding sequence outside the lazy set between runs")
        }
    }
}
