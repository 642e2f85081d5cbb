import HandoffModel
import HandoffSupport

/// The scheduler's moves that reach beyond a replica's own sets (`Replica+Sets.swift`): admitting
/// to and leaving the running set (which keeps the active, decoding, prefilling and lazy sets in
/// line with a sequence's work), freeing a sequence's KV, eviction and preemption.
///
/// Every operation here is O(1) or O(log n) in the size of the set it touches, amortised, except
/// inserting into or removing from `active` (a binary search and a move of the running sequences
/// with work, which the next iteration visits anyway).
extension Simulator {
    // MARK: Running set, active and decoding lists

    /// Admits `s` to replica `r`'s running set, newest. O(1), plus the active-list insert.
    func addRunning(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].place = .running
        seqs[s].admittedAt = replicas[r].admissions
        replicas[r].admissions += 1
        replicas[r].running.append(s, in: seqs.view)
        if hasWork(s) { activate(s, replica: r) } else { replicas[r].pushIdle(s, in: seqs.view) }
    }

    /// Takes `s` out of replica `r`'s running set. O(1), plus the active-list removal.
    func removeRunning(_ s: SequenceID, replica r: ReplicaID) {
        if seqs[s].active { deactivate(s, replica: r) }
        replicas[r].running.remove(s, in: seqs.view)
        seqs[s].place = .none
    }

    func activate(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].active = true
        replicas[r].active.insertByAdmission(s, in: seqs.view)
        syncDecoding(s, replica: r)
    }

    func deactivate(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].active = false
        replicas[r].active.removeByAdmission(s, in: seqs.view)
        syncDecoding(s, replica: r)
    }

    /// Is `s` a running sequence ready to decode (its prefill done)?
    @inline(__always) func readyToDecode(_ s: SequenceID) -> Bool {
        seqs[s].active && seqs[s].pendingPrefill == 0 && seqs[s].decodeLeft > 0
    }

    /// Brings `s`'s membership of `decoding` (and its share of `decodeWidth`), of `prefilling` and
    /// of the lazy set in line (the last two only where runs can be lazy: `tracksLazy`).
    @inline(__always) func syncDecoding(_ s: SequenceID, replica r: ReplicaID) {
        let ready = readyToDecode(s)
        guard tracksLazy else {
            syncDecodingList(s, replica: r, ready: ready)
            return
        }
        let prefill = seqs[s].active && !ready
        let l = lane[s]
        if l >= 0 {
            if !ready { leaveLazy(s, replica: r) }
        } else if l == Self.laneJoining {
            if !ready { lane[s] = Self.laneNone }  // its joining entry goes stale
        } else if l == Self.lanePrefilling && !prefill {
            replicas[r].prefilling.removeByAdmission(s, in: seqs.view)
            lane[s] = Self.laneNone
        }
        syncDecodingList(s, replica: r, ready: ready)
        if prefill {
            if lane[s] != Self.lanePrefilling {
                replicas[r].prefilling.insertByAdmission(s, in: seqs.view)
                lane[s] = Self.lanePrefilling
            }
        } else if ready && lane[s] == Self.laneNone && replicas[r].lazyValid {
            if replicas[r].busy {
                lane[s] = Self.laneJoining
                replicas[r].joining.append(s)
            } else {
                joinLazy(s, replica: r)
            }
        }
    }

    /// Brings `s`'s membership of `decoding` and its share of `decodeWidth` in line with `ready`.
    @inline(__always) func syncDecodingList(_ s: SequenceID, replica r: ReplicaID, ready: Bool) {
        if ready && seqs[s].decodeShare == 0 {
            replicas[r].decoding.insertByAdmission(s, in: seqs.view)
        } else if !ready && seqs[s].decodeShare > 0 {
            replicas[r].decoding.removeByAdmission(s, in: seqs.view)
        }
        let share = ready ? seqs[s].width : 0
        replicas[r].decodeWidth += Int(share - seqs[s].decodeShare)
        seqs[s].decodeShare = share
    }

    /// Brings a running sequence's membership of the active and decoding lists in line with its
    /// work: called after anything that gives a sequence work or takes it away.
    @inline(__always) func sync(_ s: SequenceID) {
        guard seqs[s].place == .running else { return }
        let r = seqs[s].replica
        if hasWork(s) {
            if !seqs[s].active { activate(s, replica: r) } else { syncDecoding(s, replica: r) }
        } else if seqs[s].active {
            deactivate(s, replica: r)
            replicas[r].pushIdle(s, in: seqs.view)
        }
    }

    /// Frees everything `s` holds on replica `r`: its KV and its reservation. Its prompt blocks
    /// shared across requests stay cached when its request ended (`cacheBlocks`), not when it is
    /// preempted or evicted.
    func freeSeq(_ s: SequenceID, replica r: ReplicaID, cacheBlocks: Bool = false) {
        if cachesBlocks { releasePromptBlocks(s, replica: r, keep: cacheBlocks) }
        replicas[r].kvUsed -= seqs[s].kv + seqs[s].reserved
        if seqs[s].reserved > 0 { replicas[r].reservedSeqs -= 1 }
        seqs[s].kv = 0
        seqs[s].reserved = 0
    }

    // MARK: Eviction and preemption

    /// Frees KV until `need` tokens are free and returns success, dropping contexts nobody is
    /// computing on, like vLLM's unreferenced prefix blocks: first prompt blocks cached across
    /// requests (`BlockCache`), least recently released first; then the least recently parked
    /// contexts; then the cached prefixes of waiting sequences, latest in the queue first (the head
    /// keeps its prefix: it is the one being admitted); then the idle resident contexts of
    /// pipelined requests (no pending work), oldest admitted first. Each will recompute what it
    /// lost when it next has work. O(log n) per context dropped, amortised.
    func evict(replica r: ReplicaID, need: Int) -> Bool {
        if cachesBlocks { evictCachedBlocks(replica: r, need: need) }
        while replicas[r].free < need, replicas[r].parked.head.exists {
            let s = replicas[r].parked.head
            replicas[r].unpark(s, in: seqs.view)
            freeSeq(s, replica: r)
            replicas[r].evictions += 1
        }
        if replicas[r].free < need {
            let head = replicas[r].waitingFront(in: seqs.view)
            let headKV = head.exists ? seqs[head].kv : 0
            while replicas[r].free < need, replicas[r].waitingKV > headKV, let e = replicas[r].waitingWithKV.last {
                let s = e.seq
                guard e.isLive(in: seqs.view), seqs[s].kv > 0 else {
                    replicas[r].waitingWithKV.removeLast()
                    continue
                }
                if s == head { break }
                replicas[r].waitingWithKV.removeLast()
                seqs[s].pendingPrefill += seqs[s].kv
                replicas[r].waitingKV -= seqs[s].kv
                freeSeq(s, replica: r)
                replicas[r].evictions += 1
            }
        }
        if replicas[r].free < need {
            var skipped: [IdleEntry] = []
            while replicas[r].free < need, !replicas[r].idle.isEmpty {
                let e = replicas[r].idle.heapPopMin()
                guard e.isLive(in: seqs.view) else { continue }
                let s = e.seq
                // Not the sequence the request is on: between two of its segments on this tier it
                // has no work for an instant (while other finished sequences are handled first).
                let i = seqs[s].request
                let at = reqs[i].location
                if sequence(of: i, role: at) == s
                    || (disaggregates && roleDecodeOffset[at] >= 0 && decodeSequence(of: i, role: at) == s)
                {
                    skipped.append(e)
                    continue
                }
                removeRunning(s, replica: r)
                seqs[s].pendingPrefill += seqs[s].kv
                seqs[s].dropped = true
                freeSeq(s, replica: r)
                replicas[r].evictions += 1
            }
            // Back into the heap as they were (their stamps are still the sequences' live ones).
            for e in skipped { replicas[r].idle.heapPush(e) }
        }
        return replicas[r].free >= need
    }

    /// Preempts the most recently admitted running sequence (recomputed later). O(1), plus the
    /// active-list removal.
    func preemptOne(replica r: ReplicaID) -> Bool {
        guard replicas[r].running.count > 1 else { return false }
        let s = replicas[r].running.tail
        removeRunning(s, replica: r)
        seqs[s].pendingPrefill += seqs[s].kv
        freeSeq(s, replica: r)
        replicas[r].enqueueFront(s, in: seqs.view)
        replicas[r].preemptions += 1
        return true
    }
}
