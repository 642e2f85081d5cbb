import HandoffModel
import HandoffSupport

/// A replica's sets of sequences and the moves between them: the waiting queue, the idle heap,
/// the running and parked lists, and lists kept in admission order. The replica owns the sets; a
/// sequence's own fields (its place, links and stamps) live in the simulator's sequence slab,
/// which every move takes as `seqs` (a `SlabView` of it).
///
/// What to admit, evict or preempt is the scheduler's decision (`HybridSimulator+Iterations.swift`,
/// `+Replicas.swift`); it makes it with these moves.
///
/// Every move is O(1) or O(log n) in the size of the set it touches, amortised. Removal from the
/// middle of the waiting queue or the idle heap leaves a stale entry that is skipped later (see
/// `QueueEntry`).
extension Replica {
    typealias Sequences = SlabView<SequenceID, SequenceState>

    // MARK: Waiting queue

    /// Puts `s` at the back of the waiting queue. O(1) amortised.
    @inline(__always) mutating func enqueue(_ s: SequenceID, in seqs: Sequences) {
        seqs[s].place = .waiting
        seqs[s].waitStamp &+= 1
        let e = QueueEntry(seq: s, stamp: seqs[s].waitStamp)
        waiting.append(e)
        waitingCount += 1
        waitingKV += seqs[s].kv
        if seqs[s].kv > 0 {
            waitingWithKV.append(e)
            if waitingWithKV.count > 2 * waitingCount + 64 {
                waitingWithKV.removeAll { !$0.isLive(in: seqs) || seqs[$0.seq].kv == 0 }
            }
        }
    }

    /// Puts `s` at the front of the waiting queue (a preempted sequence). O(1) amortised.
    @inline(__always) mutating func enqueueFront(_ s: SequenceID, in seqs: Sequences) {
        if waitingHead == 0 {
            let gap = max(16, waiting.count)
            waiting.insert(contentsOf: repeatElement(QueueEntry(seq: SequenceID(0), stamp: 0), count: gap), at: 0)
            waitingHead = gap
            // The filler entries are stale: sequence 0's stamp is never 0 while it waits (bumped first).
        }
        seqs[s].place = .waiting
        seqs[s].waitStamp &+= 1
        waitingHead -= 1
        waiting[waitingHead] = QueueEntry(seq: s, stamp: seqs[s].waitStamp)
        waitingCount += 1
        waitingKV += seqs[s].kv
    }

    /// The sequence at the head of the waiting queue, or `.none`. Drops stale entries in front of
    /// it. O(1) amortised.
    @inline(__always) mutating func waitingFront(in seqs: Sequences) -> SequenceID {
        guard waitingCount > 0 else {
            if !waiting.isEmpty {
                waiting.removeAll(keepingCapacity: true)
                waitingWithKV.removeAll(keepingCapacity: true)
                waitingHead = 0
            }
            return .none
        }
        while !waiting[waitingHead].isLive(in: seqs) { waitingHead += 1 }
        if waitingHead > 64 && waitingHead * 2 > waiting.count {
            waiting.removeFirst(waitingHead)
            waitingHead = 0
        }
        return waiting[waitingHead].seq
    }

    /// Takes the head off the waiting queue (the caller gives it its new place).
    @inline(__always) mutating func popWaiting(in seqs: Sequences) -> SequenceID {
        let s = waitingFront(in: seqs)
        waitingHead += 1
        waitingCount -= 1
        waitingKV -= seqs[s].kv
        seqs[s].place = .none
        return s
    }

    /// Takes `s` out of the waiting queue, wherever it is. O(1): its entry goes stale.
    @inline(__always) mutating func removeWaiting(_ s: SequenceID, in seqs: Sequences) {
        seqs[s].place = .none
        waitingCount -= 1
        waitingKV -= seqs[s].kv
    }

    // MARK: Idle heap

    /// Records that running sequence `s` has no work: a candidate for idle eviction. O(log n).
    @inline(__always) mutating func pushIdle(_ s: SequenceID, in seqs: Sequences) {
        seqs[s].idleStamp &+= 1
        idle.heapPush(IdleEntry(admittedAt: seqs[s].admittedAt, seq: s, stamp: seqs[s].idleStamp))
        if idle.count > 2 * running.count + 64 { compactIdle(in: seqs) }
    }

    /// Drops stale idle entries; the rest keep their heap order after a sort. O(n log n), amortised
    /// O(log n) per push since it runs only when stale entries outnumber the running sequences.
    mutating func compactIdle(in seqs: Sequences) {
        idle.removeAll { !$0.isLive(in: seqs) }
        idle.sort { $0.admittedAt < $1.admittedAt }
    }

    // MARK: Parked list

    /// Parks `s` (a cached prefix without work) as the most recently parked. O(1).
    @inline(__always) mutating func park(_ s: SequenceID, in seqs: Sequences) {
        seqs[s].place = .parked
        parked.append(s, in: seqs)
    }

    /// Takes `s` off the parked list. O(1).
    @inline(__always) mutating func unpark(_ s: SequenceID, in seqs: Sequences) {
        parked.remove(s, in: seqs)
        seqs[s].place = .none
    }
}

extension QueueEntry {
    /// Is this the live entry of a waiting sequence?
    @inline(__always) func isLive(in seqs: Replica.Sequences) -> Bool {
        seqs[seq].place == .waiting && seqs[seq].waitStamp == stamp
    }
}

extension IdleEntry {
    /// Is this a running sequence without work that still holds KV (and this its newest entry)?
    @inline(__always) func isLive(in seqs: Replica.Sequences) -> Bool {
        seqs[seq].place == .running && seqs[seq].idleStamp == stamp && !seqs[seq].active && seqs[seq].kv > 0
    }
}

extension SequenceList {
    /// Appends `s`. O(1).
    @inline(__always) mutating func append(_ s: SequenceID, in seqs: Replica.Sequences) {
        seqs[s].prev = tail
        seqs[s].next = .none
        if tail.exists { seqs[tail].next = s } else { head = s }
        tail = s
        count += 1
    }

    /// Unlinks `s`, wherever it is. O(1).
    @inline(__always) mutating func remove(_ s: SequenceID, in seqs: Replica.Sequences) {
        let p = seqs[s].prev
        let n = seqs[s].next
        if p.exists { seqs[p].next = n } else { head = n }
        if n.exists { seqs[n].prev = p } else { tail = p }
        seqs[s].prev = .none
        seqs[s].next = .none
        count -= 1
    }
}

extension [SequenceID] {
    /// Where a sequence admitted at `a` stands (or would stand) in this list, kept in admission
    /// order. O(log n).
    @inline(__always) func admissionIndex(_ a: Int, in seqs: Replica.Sequences) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if seqs[self[mid]].admittedAt < a { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Inserts `s` in admission order: O(1) at the end, else a binary search and a move.
    @inline(__always) mutating func insertByAdmission(_ s: SequenceID, in seqs: Replica.Sequences) {
        if let last = last, seqs[last].admittedAt > seqs[s].admittedAt {
            insert(s, at: admissionIndex(seqs[s].admittedAt, in: seqs))
        } else {
            append(s)
        }
    }

    /// Removes `s`, found by its admission order. O(log n) and a move.
    @inline(__always) mutating func removeByAdmission(_ s: SequenceID, in seqs: Replica.Sequences) {
        remove(at: admissionIndex(seqs[s].admittedAt, in: seqs))
    }
}
