import HandoffModel
import HandoffSupport

/// A replica's own invariants, as swift-collections' `Heap+Invariants`: its sets against the
/// sequences they hold (`Replica+Sets.swift`), checked by `checkInvariants(id:in:)` in builds with
/// `HANDOFF_INTERNAL_CHECKS` (the tests'; `InternalCheck.swift`). What spans replicas or needs the
/// simulator (KV sums over every sequence, lazy accounting, pools) is `HybridSimulator+Invariants`.
extension Replica {
    /// Checks the running and parked lists (links, places, order, counts), the active, decoding
    /// and prefilling lists as filters of the running list, `decodeWidth`, the waiting queue's
    /// live entries, the idle heap's cover of idle sequences holding KV, and the finish heap's
    /// order. Returns the running list, in admission order.
    @discardableResult
    func checkInvariants(id r: ReplicaID, in seqs: Sequences, tracksLazy: Bool) -> [SequenceID] {
        #if HANDOFF_INTERNAL_CHECKS
            let running = checkRunning(id: r, in: seqs)
            let hasWork = { (s: SequenceID) in seqs[s].pendingPrefill > 0 || seqs[s].decodeLeft > 0 }
            let ready = { (s: SequenceID) in seqs[s].active && seqs[s].pendingPrefill == 0 && seqs[s].decodeLeft > 0 }
            internalCheck(active == running.filter(hasWork), "replica \(r): active list ≠ running with work")
            internalCheck(decoding == running.filter(ready), "replica \(r): decoding list")
            internalCheck(decodeWidth == decoding.reduce(0) { $0 + Int(seqs[$1].width) }, "replica \(r): decodeWidth")
            internalCheck(
                prefilling == (tracksLazy ? active.filter { !ready($0) } : []),
                "replica \(r): prefilling list ≠ active less decoding")
            let idleLive = Set(idle.filter { $0.isLive(in: seqs) }.map(\.seq))
            for q in running where !hasWork(q) && seqs[q].kv > 0 {
                internalCheck(idleLive.contains(q), "replica \(r): idle sequence \(q) missing from the idle heap")
            }
            checkParked(id: r, in: seqs)
            // Every waiting sequence has exactly one live entry, at or after the head.
            var entries = [SequenceID: Int]()
            for e in waiting[waitingHead...] where e.isLive(in: seqs) { entries[e.seq, default: 0] += 1 }
            internalCheck(
                entries.count == waitingCount && entries.values.allSatisfy { $0 == 1 },
                "replica \(r): waiting queue entries")
            for (k, e) in finishes.enumerated() where k > 0 {
                internalCheck(finishes[(k - 1) / 2].epoch <= e.epoch, "replica \(r): finish heap order")
            }
            internalCheck(kvUsed >= 0, "replica \(r): negative kvUsed")
            return running
        #else
            return []
        #endif
    }

    /// The running list: each member running here, admission order, the count.
    func checkRunning(id r: ReplicaID, in seqs: Sequences) -> [SequenceID] {
        var running: [SequenceID] = []
        var s = self.running.head
        while s.exists {
            internalCheck(seqs[s].place == .running && seqs[s].replica == r, "replica \(r): running list holds \(s)")
            if let last = running.last {
                internalCheck(seqs[last].admittedAt < seqs[s].admittedAt, "replica \(r): running order")
            }
            running.append(s)
            s = seqs[s].next
        }
        internalCheck(
            running.count == self.running.count, "replica \(r): running.count \(self.running.count) ≠ \(running.count)")
        return running
    }

    /// The parked list: each member parked here, the count.
    func checkParked(id r: ReplicaID, in seqs: Sequences) {
        var parked = 0
        var s = self.parked.head
        while s.exists {
            internalCheck(seqs[s].place == .parked && seqs[s].replica == r, "replica \(r): parked list holds \(s)")
            parked += 1
            s = seqs[s].next
        }
        internalCheck(parked == self.parked.count, "replica \(r): parked.count")
    }
}
