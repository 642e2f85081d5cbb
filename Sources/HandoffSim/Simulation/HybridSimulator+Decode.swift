import HandoffModel
import HandoffSupport

/// Lazy decode accounting: the sequences a replica decodes advance together, by a replica-wide
/// epoch, instead of one by one at the end of every run.
///
/// Eagerly, every run's end visits every decoding sequence (one token, or `k` in a decode-only
/// run): O(batch) per event, and since a deeper batch also ends its runs sooner (a sequence
/// finishes every few iterations), the cost per simulated token grew with the batch. Lazily, a
/// member of the replica's lazy set keeps its `kv`, `branchKV` and `decodeLeft` as of its base
/// epoch (`lane[s]` ≥ 0); the replica keeps the sums an iteration needs (Σ width, Σ width · (kv −
/// branch KV)) and a min-heap of the epochs at which members finish. A run's end advances the
/// epoch, pops the members that finished and brings only them up to date: O(log n) per event
/// plus the sequences whose state changes.
///
/// A sequence is brought up to date (`materialise`) before anything reads or changes its
/// counters; it leaves the set when it stops being ready to decode. A run is planned lazily when
/// every decoding sequence fits in the batch (`canRunLazily`); otherwise (pipelined mode, beam
/// widths past `max_num_seqs`) the replica drops the set and runs eagerly, as before, and
/// rebuilds the set at the next lazy plan. Both give the same results.
///
/// `lane[s]`: ≥ 0 a lazy member (its base epoch); −1 none; −2 joining (ready since the lazy run
/// in flight started); −3 in the replica's `prefilling` list.
extension Simulator {
    @inline(__always) static var laneNone: Int { -1 }
    @inline(__always) static var laneJoining: Int { -2 }
    @inline(__always) static var lanePrefilling: Int { -3 }

    /// Can replica `r`'s next run batch every decoding sequence (the condition for a lazy plan)?
    @inline(__always) func canRunLazily(_ r: ReplicaID) -> Bool {
        tracksLazy && replicas[r].decodeWidth + replicas[r].prefilling.count <= replicas[r].maxSeqs
    }

    /// Brings member `s` up to date with its replica's epoch. O(1).
    @inline(__always) func materialise(_ s: SequenceID) {
        let base = lane[s]
        guard base >= 0 else { return }
        let r = seqs[s].replica
        let d = replicas[r].epoch - base
        guard d > 0 else { return }
        let w = Int(seqs[s].width)
        seqs[s].kv += d * w
        seqs[s].branchKV += d * (w - 1)
        seqs[s].decodeLeft -= d
        lane[s] = replicas[r].epoch
        produce(request: seqs[s].request, role: seqs[s].role, tokens: d)
    }

    @inline(__always) func lazyContribution(_ s: SequenceID) -> Int {
        Int(seqs[s].width) * (seqs[s].kv - seqs[s].branchKV)
    }

    /// Adds ready sequence `s` to replica `r`'s lazy set (the replica not running lazily). Returns
    /// false, having dropped the set, when `s`'s context is shorter than its branch KV (an
    /// iteration counts that as 0, which the sums cannot follow). O(log n).
    @discardableResult
    func joinLazy(_ s: SequenceID, replica r: ReplicaID) -> Bool {
        guard seqs[s].kv >= seqs[s].branchKV else {
            dropLazy(r)
            return false
        }
        lane[s] = replicas[r].epoch
        replicas[r].lazyWidth += Int(seqs[s].width)
        replicas[r].lazyContext += lazyContribution(s)
        replicas[r].lazyCount += 1
        pushFinish(FinishEntry(epoch: replicas[r].epoch + seqs[s].decodeLeft, seq: s), replica: r)
        let i = seqs[s].request
        if reqs[i].firstToken < 0 && !silent(i) { replicas[r].awaitingFirst.append(s) }
        return true
    }

    /// Takes member `s` out of replica `r`'s lazy set, up to date. O(1): its heap entry goes stale.
    func leaveLazy(_ s: SequenceID, replica r: ReplicaID) {
        materialise(s)
        replicas[r].lazyWidth -= Int(seqs[s].width)
        replicas[r].lazyContext -= lazyContribution(s)
        replicas[r].lazyCount -= 1
        lane[s] = Self.laneNone
    }

    /// Changes member `s`'s KV counters (`change` must not touch its width or decodeLeft),
    /// keeping the replica's sums. Any other sequence: just `change`.
    @inline(__always) func changeKV(_ s: SequenceID, _ change: () -> Void) {
        guard lane[s] >= 0 else {
            change()
            return
        }
        let r = seqs[s].replica
        materialise(s)
        replicas[r].lazyContext -= lazyContribution(s)
        change()
        replicas[r].lazyContext += lazyContribution(s)
        // Only a sequence between runs has its KV cut (a rollback or prune as its segment ends).
        if seqs[s].kv < seqs[s].branchKV {
            assert(!replicas[r].busy, "a lazy member's KV cut mid-run")
            dropLazy(r)
        }
    }

    /// Brings every decoding sequence of replica `r` up to date and stops counting lazily. O(n).
    func dropLazy(_ r: ReplicaID) {
        guard replicas[r].lazyValid else { return }
        for s in replicas[r].decoding {
            materialise(s)
            if lane[s] >= 0 || lane[s] == Self.laneJoining { lane[s] = Self.laneNone }
        }
        replicas[r].lazyValid = false
        replicas[r].lazyWidth = 0
        replicas[r].lazyContext = 0
        replicas[r].lazyCount = 0
        replicas[r].finishes.removeAll(keepingCapacity: true)
        replicas[r].joining.removeAll(keepingCapacity: true)
        replicas[r].awaitingFirst.removeAll(keepingCapacity: true)
    }

    /// Starts counting replica `r`'s decoding sequences lazily (it is not running). O(n log n).
    func buildLazy(_ r: ReplicaID) -> Bool {
        replicas[r].lazyValid = true
        for s in replicas[r].decoding where !joinLazy(s, replica: r) { return false }
        return true
    }

    /// Joins the sequences that became ready while replica `r`'s lazy run was in flight.
    func admitJoining(_ r: ReplicaID) {
        guard !replicas[r].joining.isEmpty else { return }
        let joining = replicas[r].joining
        replicas[r].joining.removeAll(keepingCapacity: true)
        for s in joining where lane[s] == Self.laneJoining {
            lane[s] = Self.laneNone
            guard replicas[r].lazyValid else { continue }
            joinLazy(s, replica: r)
        }
    }

    /// Pops the members of replica `r` whose segment ended by its epoch into `finished`, in
    /// admission order, up to date and out of the lazy set. O(log n) each.
    func popFinished(_ r: ReplicaID, into finished: IndexList) {
        let epoch = replicas[r].epoch
        while let top = replicas[r].finishes.first, top.epoch <= epoch {
            popFinish(replica: r)
            guard liveFinish(top) else { continue }
            let s = top.seq
            // Out of the set at once (an entry of an earlier membership with the same key is stale).
            leaveLazy(s, replica: r)
            finished.append(s)
        }
        if finished.count > 1 { finished.sort { seqs[$0].admittedAt < seqs[$1].admittedAt } }
    }

    /// The fewest tokens any member of replica `r`'s lazy set has left (Int.max for none). Drops
    /// stale heap entries. O(log n) amortised.
    func lazyMinLeft(_ r: ReplicaID) -> Int {
        while let top = replicas[r].finishes.first {
            if liveFinish(top) { return top.epoch - replicas[r].epoch }
            popFinish(replica: r)
        }
        return Int.max
    }

    // MARK: Finish heap

    /// Is `e` its sequence's current finish entry? (A member's base plus its stored decodeLeft
    /// stays its finish epoch as it is brought up to date; leaving or new work changes it.)
    @inline(__always) func liveFinish(_ e: FinishEntry) -> Bool {
        let s = e.seq
        return lane[s] >= 0 && lane[s] + seqs[s].decodeLeft == e.epoch
    }

    func pushFinish(_ e: FinishEntry, replica r: ReplicaID) {
        if replicas[r].finishes.count > 2 * replicas[r].lazyCount + 64 {
            // Stale entries outnumber the members: keep the live ones (a sorted array is a heap).
            replicas[r].finishes.removeAll { !liveFinish($0) }
            replicas[r].finishes.sort { $0.epoch < $1.epoch }
        }
        replicas[r].finishes.heapPush(e)
    }

    @inline(__always) func popFinish(replica r: ReplicaID) { replicas[r].finishes.heapPopMin() }
}
