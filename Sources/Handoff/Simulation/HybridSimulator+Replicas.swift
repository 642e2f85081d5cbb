/// A replica's sets of sequences (waiting, running with and without work, parked) and the moves
/// between them: admission bookkeeping, eviction and preemption.
///
/// Every operation here is O(1) or O(log n) in the size of the set it touches, amortised, except
/// inserting into or removing from `active` (a binary search and a move of the running sequences
/// with work, which the next iteration visits anyway). Removal from the middle of the waiting
/// queue or the idle heap leaves a stale entry that is skipped later (see `QueueEntry`).
extension HybridSimulator {
    // MARK: Waiting queue

    @inline(__always) func live(_ e: QueueEntry) -> Bool {
        seqs[e.seq].place == .waiting && seqs[e.seq].waitStamp == e.stamp
    }

    /// Puts `s` at the back of replica `r`'s waiting queue. O(1) amortised.
    func enqueue(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].place = .waiting
        seqs[s].waitStamp &+= 1
        let e = QueueEntry(seq: s, stamp: seqs[s].waitStamp)
        replicas[r].waiting.append(e)
        replicas[r].waitingCount += 1
        replicas[r].waitingKV += seqs[s].kv
        if seqs[s].kv > 0 {
            replicas[r].waitingWithKV.append(e)
            if replicas[r].waitingWithKV.count > 2 * replicas[r].waitingCount + 64 {
                replicas[r].waitingWithKV.removeAll { !live($0) || seqs[$0.seq].kv == 0 }
            }
        }
    }

    /// Puts `s` at the front of replica `r`'s waiting queue (a preempted sequence). O(1) amortised.
    func enqueueFront(_ s: SequenceID, replica r: ReplicaID) {
        if replicas[r].waitingHead == 0 {
            let gap = max(16, replicas[r].waiting.count)
            replicas[r].waiting.insert(
                contentsOf: repeatElement(QueueEntry(seq: SequenceID(0), stamp: 0), count: gap), at: 0)
            replicas[r].waitingHead = gap
            // The filler entries are stale: sequence 0's stamp is never 0 while it waits (bumped first).
        }
        seqs[s].place = .waiting
        seqs[s].waitStamp &+= 1
        replicas[r].waitingHead -= 1
        replicas[r].waiting[replicas[r].waitingHead] = QueueEntry(seq: s, stamp: seqs[s].waitStamp)
        replicas[r].waitingCount += 1
        replicas[r].waitingKV += seqs[s].kv
    }

    /// The sequence at the head of replica `r`'s waiting queue, or `.none`. Drops stale entries in
    /// front of it. O(1) amortised.
    func waitingFront(_ r: ReplicaID) -> SequenceID {
        guard replicas[r].waitingCount > 0 else {
            if !replicas[r].waiting.isEmpty {
                replicas[r].waiting.removeAll(keepingCapacity: true)
                replicas[r].waitingWithKV.removeAll(keepingCapacity: true)
                replicas[r].waitingHead = 0
            }
            return .none
        }
        while !live(replicas[r].waiting[replicas[r].waitingHead]) { replicas[r].waitingHead += 1 }
        if replicas[r].waitingHead > 64 && replicas[r].waitingHead * 2 > replicas[r].waiting.count {
            replicas[r].waiting.removeFirst(replicas[r].waitingHead)
            replicas[r].waitingHead = 0
        }
        return replicas[r].waiting[replicas[r].waitingHead].seq
    }

    /// Takes the head off replica `r`'s waiting queue (the caller gives it its new place).
    @inline(__always) func popWaiting(replica r: ReplicaID) -> SequenceID {
        let s = waitingFront(r)
        replicas[r].waitingHead += 1
        replicas[r].waitingCount -= 1
        replicas[r].waitingKV -= seqs[s].kv
        seqs[s].place = .none
        return s
    }

    /// Takes `s` out of replica `r`'s waiting queue, wherever it is. O(1): its entry goes stale.
    func removeWaiting(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].place = .none
        replicas[r].waitingCount -= 1
        replicas[r].waitingKV -= seqs[s].kv
    }

    // MARK: Running list, active list, idle heap

    /// Admits `s` to replica `r`'s running set, newest. O(1), plus the active-list insert.
    func addRunning(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].place = .running
        seqs[s].admittedAt = replicas[r].admissions
        replicas[r].admissions += 1
        append(s, to: &replicas[r].running)
        if hasWork(s) { activate(s, replica: r) } else { pushIdle(s, replica: r) }
    }

    /// Takes `s` out of replica `r`'s running set. O(1), plus the active-list removal.
    func removeRunning(_ s: SequenceID, replica r: ReplicaID) {
        if seqs[s].active { deactivate(s, replica: r) }
        remove(s, from: &replicas[r].running)
        seqs[s].place = .none
    }

    /// Where a sequence admitted at `a` stands (or would stand) in `list`, a list in admission
    /// order. O(log n).
    @inline(__always) func admissionIndex(_ list: [SequenceID], _ a: Int) -> Int {
        var lo = 0
        var hi = list.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if seqs[list[mid]].admittedAt < a { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Inserts `s` into `list` (in admission order): O(1) at the end, else a binary search and a move.
    @inline(__always) func insertByAdmission(_ s: SequenceID, into list: inout [SequenceID]) {
        if let last = list.last, seqs[last].admittedAt > seqs[s].admittedAt {
            list.insert(s, at: admissionIndex(list, seqs[s].admittedAt))
        } else {
            list.append(s)
        }
    }

    func activate(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].active = true
        insertByAdmission(s, into: &replicas[r].active)
        syncDecoding(s, replica: r)
    }

    func deactivate(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].active = false
        replicas[r].active.remove(at: admissionIndex(replicas[r].active, seqs[s].admittedAt))
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
            replicas[r].prefilling.remove(at: admissionIndex(replicas[r].prefilling, seqs[s].admittedAt))
            lane[s] = Self.laneNone
        }
        syncDecodingList(s, replica: r, ready: ready)
        if prefill {
            if lane[s] != Self.lanePrefilling {
                insertByAdmission(s, into: &replicas[r].prefilling)
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
            insertByAdmission(s, into: &replicas[r].decoding)
        } else if !ready && seqs[s].decodeShare > 0 {
            replicas[r].decoding.remove(at: admissionIndex(replicas[r].decoding, seqs[s].admittedAt))
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
            pushIdle(s, replica: r)
        }
    }

    /// Records that running sequence `s` has no work: a candidate for idle eviction. O(log n).
    func pushIdle(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].idleStamp &+= 1
        insertIdle(IdleEntry(admittedAt: seqs[s].admittedAt, seq: s, stamp: seqs[s].idleStamp), replica: r)
        if replicas[r].idle.count > 2 * replicas[r].running.count + 64 { compactIdle(r) }
    }

    /// Sifts `e` into replica `r`'s idle heap. O(log n).
    @inline(__always) func insertIdle(_ e: IdleEntry, replica r: ReplicaID) { replicas[r].idle.heapPush(e) }

    /// Is `e` a running sequence without work that still holds KV (and is `e` its newest entry)?
    @inline(__always) func liveIdle(_ e: IdleEntry) -> Bool {
        let s = e.seq
        return seqs[s].place == .running && seqs[s].idleStamp == e.stamp && !seqs[s].active && seqs[s].kv > 0
    }

    @inline(__always) func popIdle(_ r: ReplicaID) -> IdleEntry { replicas[r].idle.heapPopMin() }

    /// Drops stale idle entries; the rest keep their heap order after a sort. O(n log n), amortised
    /// O(log n) per push since it runs only when stale entries outnumber the running sequences.
    func compactIdle(_ r: ReplicaID) {
        replicas[r].idle.removeAll { !liveIdle($0) }
        replicas[r].idle.sort { $0.admittedAt < $1.admittedAt }
    }

    // MARK: Linked lists

    /// Appends `s` to `list`. O(1).
    @inline(__always) func append(_ s: SequenceID, to list: inout SequenceList) {
        seqs[s].prev = list.tail
        seqs[s].next = .none
        if list.tail.exists { seqs[list.tail].next = s } else { list.head = s }
        list.tail = s
        list.count += 1
    }

    /// Unlinks `s` from `list`, wherever it is. O(1).
    @inline(__always) func remove(_ s: SequenceID, from list: inout SequenceList) {
        let p = seqs[s].prev
        let n = seqs[s].next
        if p.exists { seqs[p].next = n } else { list.head = n }
        if n.exists { seqs[n].prev = p } else { list.tail = p }
        seqs[s].prev = .none
        seqs[s].next = .none
        list.count -= 1
    }

    // MARK: Parked list

    /// Parks `s` (a cached prefix without work) as the most recently parked. O(1).
    func park(_ s: SequenceID, replica r: ReplicaID) {
        seqs[s].place = .parked
        append(s, to: &replicas[r].parked)
    }

    /// Takes `s` off replica `r`'s parked list. O(1).
    func unpark(_ s: SequenceID, replica r: ReplicaID) {
        remove(s, from: &replicas[r].parked)
        seqs[s].place = .none
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
            unpark(s, replica: r)
            freeSeq(s, replica: r)
            replicas[r].evictions += 1
        }
        if replicas[r].free < need {
            let head = waitingFront(r)
            let headKV = head.exists ? seqs[head].kv : 0
            while replicas[r].free < need, replicas[r].waitingKV > headKV, let e = replicas[r].waitingWithKV.last {
                let s = e.seq
                guard live(e), seqs[s].kv > 0 else {
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
                let e = popIdle(r)
                guard liveIdle(e) else { continue }
                let s = e.seq
                // Not the sequence the request is on: between two of its segments on this tier it
                // has no work for an instant (while other finished sequences are handled first).
                let i = seqs[s].request
                if reqs[i].seqBase.advanced(by: Int(reqs[i].location)) == s {
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
            for e in skipped { insertIdle(e, replica: r) }
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
        enqueueFront(s, replica: r)
        replicas[r].preemptions += 1
        return true
    }
}
