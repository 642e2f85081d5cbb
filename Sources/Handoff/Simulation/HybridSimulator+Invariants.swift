/// Self-checks of the replica bookkeeping, in the manner of swift-collections' `Heap+Invariants`:
/// with `checksInvariants` set, `run()` calls `checkInvariants()` after every event. O(sequences)
/// per call, so only tests turn it on.
extension HybridSimulator {
    /// Stops with a message naming the broken rule when the replica sets, the KV counters or a
    /// sequence's place disagree.
    public func checkInvariants() {
        var kvOn = [Int](repeating: 0, count: replicas.count)
        var waitingOn = [Int](repeating: 0, count: replicas.count)
        var waitingKVOn = [Int](repeating: 0, count: replicas.count)
        for (s, q) in seqs.enumerated() {
            precondition(q.kv >= 0 && q.pendingPrefill >= 0 && q.decodeLeft >= 0, "sequence \(s): negative kv, prefill or decode")
            if q.replica >= 0 { kvOn[Int(q.replica)] += q.kv + q.reserved } else { precondition(q.kv == 0, "sequence \(s) holds KV on no replica") }
            precondition(q.reserved >= 0 && q.reserved <= q.pendingPrefill, "sequence \(s): reservation \(q.reserved) beyond its prefill")
            precondition(q.reserved == 0 || q.place == .running, "sequence \(s): a reservation off the running set")
            if q.place == .waiting { waitingOn[Int(q.replica)] += 1; waitingKVOn[Int(q.replica)] += q.kv }
            precondition(q.active == (q.place == .running && hasWork(s)), "sequence \(s): active flag \(q.active) disagrees")
        }
        for r in replicas.indices {
            let rep = replicas[r]
            precondition(rep.kvUsed == kvOn[r], "replica \(r): kvUsed \(rep.kvUsed) ≠ Σ kv \(kvOn[r])")
            precondition(rep.kvUsed >= 0, "replica \(r): negative kvUsed")
            let reservedSeqs = seqs.indices.filter { Int(seqs[$0].replica) == r && seqs[$0].reserved > 0 }.count
            precondition(rep.reservedSeqs == reservedSeqs, "replica \(r): reservedSeqs \(rep.reservedSeqs) ≠ \(reservedSeqs)")
            precondition(rep.waitingCount == waitingOn[r], "replica \(r): waitingCount \(rep.waitingCount) ≠ \(waitingOn[r]) waiting")
            precondition(rep.waitingKV == waitingKVOn[r], "replica \(r): waitingKV \(rep.waitingKV) ≠ \(waitingKVOn[r])")
            // Every waiting sequence has exactly one live entry, at or after the head.
            var entries = [Int: Int]()
            for e in rep.waiting[rep.waitingHead...] where live(e) { entries[Int(e.seq), default: 0] += 1 }
            precondition(entries.count == rep.waitingCount && entries.values.allSatisfy { $0 == 1 }, "replica \(r): waiting queue entries")
            // Running list: admission order, places, and the active and decoding lists as its filters.
            var running: [Int32] = []
            var s = rep.running.head
            while s >= 0 {
                precondition(seqs[Int(s)].place == .running && Int(seqs[Int(s)].replica) == r, "replica \(r): running list holds \(s)")
                if let last = running.last { precondition(seqs[Int(last)].admittedAt < seqs[Int(s)].admittedAt, "replica \(r): running order") }
                running.append(s)
                s = seqs[Int(s)].next
            }
            precondition(running.count == rep.running.count, "replica \(r): running.count \(rep.running.count) ≠ \(running.count)")
            precondition(rep.active == running.filter { hasWork(Int($0)) }, "replica \(r): active list ≠ running with work")
            precondition(rep.decoding == running.filter { readyToDecode(Int($0)) }, "replica \(r): decoding list")
            precondition(rep.decodeWidth == rep.decoding.reduce(0) { $0 + Int(seqs[Int($1)].width) }, "replica \(r): decodeWidth")
            // Every idle running sequence holding KV is in the idle heap.
            let idle = Set(rep.idle.filter(liveIdle).map(\.seq))
            for q in running where !hasWork(Int(q)) && seqs[Int(q)].kv > 0 {
                precondition(idle.contains(q), "replica \(r): idle sequence \(q) missing from the idle heap")
            }
            var parked = 0
            s = rep.parked.head
            while s >= 0 {
                precondition(seqs[Int(s)].place == .parked && Int(seqs[Int(s)].replica) == r, "replica \(r): parked list holds \(s)")
                parked += 1
                s = seqs[Int(s)].next
            }
            precondition(parked == rep.parked.count, "replica \(r): parked.count")
        }
        let placed = seqs.indices.filter { seqs[$0].place == .running || seqs[$0].place == .parked }.count
        precondition(placed == replicas.reduce(0) { $0 + $1.running.count + $1.parked.count }, "a sequence is in no list or two")
    }
}
