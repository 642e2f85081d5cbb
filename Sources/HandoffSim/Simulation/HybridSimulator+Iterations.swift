import HandoffModel
import HandoffSupport

/// The replica scheduler's iterations: a replica plans a run of iterations (admission, room for
/// decoding, the batch), and at the run's end credits prefill chunks and decoded tokens, ends
/// the segments that finished, and plans again. Colocated tiers take turns on a device.
/// Admission bookkeeping, eviction and preemption are in `HybridSimulator+Replicas.swift`.
extension Simulator {
    /// Do tiers `a` and `b` share GPUs?
    @inline(__always) func colocated(_ a: TierID, _ b: TierID) -> Bool { a != b && device[a] == device[b] }

    /// Is replica `r`'s device running its colocated partner's iteration?
    @inline(__always) func deviceBusy(_ r: ReplicaID) -> Bool {
        partner[r.index].exists && replicas[partner[r.index]].busy
    }

    @inline(__always) func hasWork(_ s: SequenceID) -> Bool { seqs[s].pendingPrefill > 0 || seqs[s].decodeLeft > 0 }

    /// New work reached replica `r`: start an iteration, or cut a long decode run at the next
    /// iteration boundary when the new work could join the batch.
    func poke(_ r: ReplicaID) {
        if !replicas[r].busy {
            // The device is the partner's: its run ends at the next iteration boundary, then turns alternate.
            if deviceBusy(r) { cut(partner[r.index]) } else { Scheduler.plan(self, replica: r) }
            return
        }
        guard replicas[r].decodeOnlyRun, replicas[r].plannedIterations > 1 else { return }
        // An active sequence not ready to decode has prefill to do.
        var canJoin = replicas[r].active.count > replicas[r].decoding.count
        if !canJoin, replicas[r].waitingCount > 0 {
            let work = working(r)
            canJoin = work < replicas[r].maxSeqs
        }
        guard canJoin else { return }
        cut(r)
    }

    /// Ends replica `r`'s decode-only run at its next iteration boundary.
    func cut(_ r: ReplicaID) {
        guard replicas[r].decodeOnlyRun, replicas[r].plannedIterations > 1 else { return }
        let d = replicas[r].iterationSeconds
        let j = max(1, Int(((now - replicas[r].runStart) / d - 1e-9).rounded(.up)))
        guard j < replicas[r].plannedIterations else { return }
        replicas[r].plannedIterations = j
        replicas[r].runEnd = replicas[r].runStart + Double(j) * d
        replicas[r].version &+= 1
        schedule(replicas[r].runEnd, .runEnd, r.index, replicas[r].version)
    }

    func finishRun(_ r: ReplicaID) {
        let j = replicas[r].plannedIterations
        replicas[r].busy = false
        replicas[r].busySeconds += Double(j) * replicas[r].iterationSeconds
        replicas[r].iterations += j
        // Buffers reused from run to run (taking the batch out of the replica with a spare in its
        // place, not a copy-on-write of a shared array): no allocation per event.
        var batch = spareBatch
        spareBatch = []
        swap(&batch, &replicas[r].batch)
        let finished = finishedList
        let chunkSends = chunkList
        finished.removeAll()
        doneList.removeAll()
        chunkSends.removeAll()
        defer {
            // Only a non-empty one: removeAll(keepingCapacity:) on an empty array allocates a buffer.
            if !batch.isEmpty { batch.removeAll(keepingCapacity: true) }
            spareBatch = batch
        }
        // Tier totals, added once after the loop (an Array element write checks uniqueness).
        var generated = 0
        var prefilled = 0
        // A lazy run: every member of the lazy set decoded j tokens (HybridSimulator+Decode.swift).
        let lazy = replicas[r].lazyRun
        var awaiting: [SequenceID] = []
        var nextAwaiting = 0
        if lazy { generated += endLazyRun(r, iterations: j, awaiting: &awaiting) }
        for s in batch {
            if nextAwaiting < awaiting.count { firstTokens(r, awaiting, &nextAwaiting, before: seqs[s].admittedAt) }
            let (g, p) = endIteration(s, replica: r, iterations: j, finished: finished, chunkSends: chunkSends)
            generated += g
            prefilled += p
        }
        if lazy {
            firstTokens(r, awaiting, &nextAwaiting, before: Int.max)
            popFinished(r, into: doneList)
        }
        let tierIdx = replicas[r].tier
        tierGenerated[tierIdx] += generated
        tierPrefilled[tierIdx] += prefilled
        handOn(r, batch: batch, lazy: lazy)
    }

    /// A lazy run's end for the whole lazy set at once: the epoch advances by `j` and each member's
    /// context grows by j tokens per branch. Takes the members still awaiting their first token,
    /// in admission order, into `awaiting`. Returns the tokens generated.
    @inline(__always) func endLazyRun(_ r: ReplicaID, iterations j: Int, awaiting: inout [SequenceID]) -> Int {
        replicas[r].lazyRun = false
        replicas[r].epoch += j
        let grown = j * replicas[r].lazyWidth
        replicas[r].lazyContext += grown
        replicas[r].kvUsed += grown
        if !replicas[r].awaitingFirst.isEmpty {
            awaiting = replicas[r].awaitingFirst
            replicas[r].awaitingFirst.removeAll(keepingCapacity: true)
            if awaiting.count > 1 { awaiting.sort { seqs[$0].admittedAt < seqs[$1].admittedAt } }
        }
        return grown
    }

    /// What the run's `j` iterations did to batch member `s`: its prefill chunk, or its decoded
    /// tokens (a burst segment's all at once), its first token, pipelined chunks to send. Appends
    /// it to `finished` when its segment's work is done. Returns (tokens generated, prefilled).
    @inline(__always) func endIteration(
        _ s: SequenceID, replica r: ReplicaID, iterations j: Int, finished: IndexList, chunkSends: IndexList
    ) -> (generated: Int, prefilled: Int) {
        // Released while the run was in flight (its request ended on another tier).
        guard seqs[s].place == .running else {
            seqs[s].batch = 0
            return (0, 0)
        }
        let i = seqs[s].request
        let chunk = seqs[s].batch
        seqs[s].batch = 0
        var produced = 0
        if chunk > 0 {
            // The part of the chunk reserved at admission is already counted in kvUsed.
            let fromReserve = min(chunk, seqs[s].reserved)
            seqs[s].reserved -= fromReserve
            if fromReserve > 0 && seqs[s].reserved == 0 { replicas[r].reservedSeqs -= 1 }
            seqs[s].kv += chunk
            replicas[r].kvUsed += chunk - fromReserve
            seqs[s].pendingPrefill -= chunk
            if seqs[s].pendingPrefill == 0 && seqs[s].scoring {
                seqs[s].scoring = false
                finished.append(s)
                return (0, chunk)
            }
            if seqs[s].pendingPrefill == 0 && seqs[s].decodeLeft > 0 {
                // A burst segment (speculative verification) emits all its tokens at once.
                produced = segments[Int(reqs[i].segFirst + reqs[i].seg)].burst ? seqs[s].decodeLeft : 1
            }
        } else if chunk < 0 {
            produced = j
            let w = Int(seqs[s].width)
            seqs[s].kv += j * w
            seqs[s].branchKV += j * (w - 1)
            replicas[r].kvUsed += j * w
        }
        let prefilled = max(0, chunk)
        guard produced > 0 else { return (0, prefilled) }
        if reqs[i].firstToken < 0 && !silent(i) {
            let t = replicas[r].runStart + replicas[r].iterationSeconds
            reqs[i].firstToken = seqs[s].role.isOffload ? t + oneWay(tokens: 0) : t
            // The request cannot end before its first token reaches the frontend (the return
            // trip draws its own delay).
            reqs[i].revealedAt = reqs[i].firstToken
        }
        seqs[s].decodeLeft -= produced
        produce(request: i, role: seqs[s].role, tokens: produced)
        if pipelined {
            seqs[s].sinceChunk += produced
            while seqs[s].sinceChunk >= chunkTokens && seqs[s].decodeLeft > 0 {
                seqs[s].sinceChunk -= chunkTokens
                chunkSends.append(s)
            }
        }
        if seqs[s].decodeLeft == 0 {
            finished.append(s)
        } else if disaggregates && prefillPool[r.index] {
            handOver(s, from: r)
        }
        return (produced * Int(seqs[s].width), prefilled)
    }

    /// After a run's bookkeeping: prompt blocks published, every member's sets synced, memory
    /// checked, pipelined chunks sent, finished segments handed on, and the next runs planned.
    @inline(__always) func handOn(_ r: ReplicaID, batch: [SequenceID], lazy: Bool) {
        let done = doneList
        // Prompts whose prefill completed publish their blocks (a pass of its own: a call inside
        // the member loop cost 0.7% of the guard workload's instructions, caching off).
        if cachesBlocks {
            for s in batch where seqs[s].place == .running && seqs[s].pendingPrefill == 0 {
                holdPromptBlocks(s, replica: r)
            }
        }
        for s in batch { sync(s) }
        if lazy {
            for s in done { sync(s) }
            admitJoining(r)
            if !done.isEmpty { mergeByAdmission(finishedList, done, into: mergedList) }
        }
        if replicas[r].kvUsed > replicas[r].capacity { overflow = true }
        replicas[r].peakKV = max(replicas[r].peakKV, replicas[r].kvUsed)
        if !chunkList.isEmpty { sendChunks(chunkList) }
        for s in (lazy && !done.isEmpty ? mergedList : finishedList) { segmentDone(seq: s, request: seqs[s].request) }
        // A colocated partner waiting for the device goes first: turns alternate.
        if partner[r.index].exists && !replicas[partner[r.index]].busy {
            Scheduler.plan(self, replica: partner[r.index])
        }
        if !replicas[r].busy { Scheduler.plan(self, replica: r) }
    }

    /// The lazy members of `awaiting` admitted before `a` (from `next` on) decoded their request's
    /// first token in replica `r`'s run that just ended: as an eager run's end does, in batch order.
    func firstTokens(_ r: ReplicaID, _ awaiting: [SequenceID], _ next: inout Int, before a: Int) {
        while next < awaiting.count, seqs[awaiting[next]].admittedAt < a {
            let s = awaiting[next]
            next += 1
            let i = seqs[s].request
            guard lane[s] >= 0, seqs[s].place == .running, reqs[i].firstToken < 0, !silent(i) else { continue }
            let t = replicas[r].runStart + replicas[r].iterationSeconds
            reqs[i].firstToken = seqs[s].role.isOffload ? t + oneWay(tokens: 0) : t
            reqs[i].revealedAt = reqs[i].firstToken
        }
    }

    /// Two lists of sequences in admission order, merged into `out`.
    func mergeByAdmission(_ a: IndexList, _ b: IndexList, into out: IndexList) {
        out.removeAll()
        var i = 0
        var k = 0
        while i < a.count || k < b.count {
            if k == b.count || (i < a.count && seqs[a[i]].admittedAt < seqs[b[k]].admittedAt) {
                out.append(a[i])
                i += 1
            } else {
                out.append(b[k])
                k += 1
            }
        }
    }

    /// Puts ready-to-decode sequence `s` (all its branches) into the iteration being built.
    @inline(__always) func batchDecode(
        _ s: SequenceID, replica r: ReplicaID, load: inout IterationLoad, slots: inout Int, minLeft: inout Int
    ) {
        let w = Int(seqs[s].width)
        slots -= w
        seqs[s].batch = -1
        replicas[r].batch.append(s)
        load.decodeSeqs += w
        // Each branch attends over the shared prefix and its own tokens.
        load.decodeContext += Double(w) * Double(max(0, seqs[s].kv - seqs[s].branchKV))
        minLeft = min(minLeft, seqs[s].decodeLeft)
        if pipelined { minLeft = min(minLeft, max(1, chunkTokens - seqs[s].sinceChunk)) }
    }

    /// Replica `r` is idle: plans its next run of iterations (vLLM's scheduler step) — take
    /// from the tier's shared queue, admit waiting sequences, make room for the decode batch's
    /// growth, build the batch, and start the run.
    /// Every scheduler's first step: false when replica `r` (or its device) is busy, or a lone
    /// sequence failed for memory (the replica was planned again then); otherwise the tier queue's
    /// share taken, waiting sequences admitted, and room made for every decoder's next token.
    @inline(__always) func admitForPlan(_ r: ReplicaID) -> Bool {
        guard !replicas[r].busy, !deviceBusy(r) else { return false }
        takeFromTierQueue(r)
        admitWaiting(r)
        return makeRoomToDecode(r)
    }

    func planContinuousBatch(_ r: ReplicaID) {
        guard admitForPlan(r) else { return }
        // Lazily when every decoding sequence fits in the batch (HybridSimulator+Decode.swift).
        let lazy = canRunLazily(r) && (replicas[r].lazyValid || buildLazy(r))
        if !lazy { dropLazy(r) }
        // The iteration's batch: decoding sequences (all of them from the lazy sums, or eagerly) and
        // prefill chunks within max_num_batched_tokens, max_num_seqs and free memory; then the run.
        // The parts are @inline(__always): as calls (which the compiler did not inline), the same
        // work cost 8% more instructions on bench scaling.
        var load = IterationLoad()
        var minLeft = Int.max
        var slots = replicas[r].maxSeqs
        if lazy {
            // Every decoding sequence, from the lazy sums: O(log n).
            load.decodeSeqs = replicas[r].lazyWidth
            load.decodeContext = Double(replicas[r].lazyContext)
            minLeft = lazyMinLeft(r)
            slots -= replicas[r].decodeWidth
            assert(
                replicas[r].lazyWidth == replicas[r].decodeWidth && replicas[r].joining.isEmpty,
                "replica \(r): a decoding sequence outside the lazy set")
        }
        fillBatch(r, lazy: lazy, load: &load, slots: &slots, minLeft: &minLeft)
        if load.decodeSeqs == 0 && load.prefillTokens == 0 {
            unstick(r)
            return
        }
        launch(r, lazy: lazy, load: load, minLeft: minLeft)
    }

    /// The batch's prefill chunks and eager decoders. Eagerly: every sequence with work in
    /// admission order, while a prefill chunk can still be given; then only the sequences ready to
    /// decode, from where that stopped. O(batch + log n). Lazily: the sequences with prefill to do,
    /// the same way. O(prefill chunks + log n).
    @inline(__always) func fillBatch(
        _ r: ReplicaID, lazy: Bool, load: inout IterationLoad, slots: inout Int, minLeft: inout Int
    ) {
        let decodeCount = replicas[r].decodeWidth
        var avail = replicas[r].free - decodeCount
        var budget = replicas[r].maxBatchedTokens - decodeCount
        let active = lazy ? replicas[r].prefilling : replicas[r].active
        var pos = 0
        var prefillOpen = budget > 0
        var memoryOut = false
        var reservedLeft = replicas[r].reservedSeqs
        while prefillOpen, !(memoryOut && reservedLeft == 0), pos < active.count, slots > 0 {
            let s = active[pos]
            pos += 1
            if seqs[s].reserved > 0 { reservedLeft -= 1 }
            if seqs[s].pendingPrefill == 0 {
                batchDecode(s, replica: r, load: &load, slots: &slots, minLeft: &minLeft)
                continue
            }
            // What was reserved at admission needs no new memory; the rest comes out of `avail`.
            let reserved = seqs[s].reserved
            let want = min(seqs[s].pendingPrefill, budget)
            if avail < want - reserved && !memoryOut {
                let before = replicas[r].free
                _ = evict(replica: r, need: before + want - reserved - avail)
                avail += replicas[r].free - before
            }
            let chunk = min(seqs[s].pendingPrefill, budget, reserved + max(0, avail))
            if chunk < want, avail <= 0 {
                // No memory left (nothing more can be evicted): from here on only reserved prefill
                // can join, and once no reserved sequence is left, only decoding.
                memoryOut = true
            }
            guard chunk > 0 else { continue }
            slots -= 1
            seqs[s].batch = chunk
            replicas[r].batch.append(s)
            replicas[r].latency.addPrefill(&load, chunk: chunk, context: seqs[s].kv)
            budget -= chunk
            avail -= max(0, chunk - reserved)
            if budget <= 0 { prefillOpen = false }
        }
        if !lazy, pos < active.count, slots > 0 {
            let decoding = replicas[r].decoding
            var j = decoding.admissionIndex(seqs[active[pos]].admittedAt, in: seqs.view)
            while j < decoding.count, slots > 0 {
                batchDecode(decoding[j], replica: r, load: &load, slots: &slots, minLeft: &minLeft)
                j += 1
            }
        }
    }

    /// Nothing can run. If work is stuck for memory, preempt; a lone sequence that cannot fit fails.
    @inline(__always) func unstick(_ r: ReplicaID) {
        let stuck = replicas[r].active
        guard !stuck.isEmpty else { return }
        if preemptOne(replica: r) {
            Scheduler.plan(self, replica: r)
            return
        }
        fail(seqs[stuck[0]].request)
        Scheduler.plan(self, replica: r)
    }

    /// Starts the run: one iteration, or `k` decode-only iterations in which the batch cannot
    /// change (until the first member's segment ends or memory runs out), as one event.
    @inline(__always) func launch(_ r: ReplicaID, lazy: Bool, load given: IterationLoad, minLeft: Int) {
        var load = given
        var k = 1
        let decodeOnly = load.prefillTokens == 0
        if decodeOnly {
            k = min(minLeft, max(1, replicas[r].free / max(1, load.decodeSeqs)))
            load.decodeContext += Double(load.decodeSeqs) * Double(k - 1) / 2
        }
        let d = replicas[r].latency.seconds(load)
        replicas[r].busy = true
        replicas[r].lazyRun = lazy
        replicas[r].decodeOnlyRun = decodeOnly
        replicas[r].runStart = now
        replicas[r].iterationSeconds = d
        replicas[r].plannedIterations = k
        replicas[r].runEnd = now + Double(k) * d
        replicas[r].version &+= 1
        schedule(replicas[r].runEnd, .runEnd, r.index, replicas[r].version)
    }

    /// Admission: waiting sequences, FIFO, while sequence slots and memory allow. A sequence whose
    /// context cannot fit in the replica at all fails.
    @inline(__always) func admitWaiting(_ r: ReplicaID) {
        var work = working(r)
        while replicas[r].waitingCount > 0, work < replicas[r].maxSeqs {
            let s = replicas[r].waitingFront(in: seqs.view)
            let need = seqs[s].pendingPrefill + (seqs[s].decodeLeft > 0 ? 1 : 0)
            if need + seqs[s].kv > replicas[r].capacity {
                _ = replicas[r].popWaiting(in: seqs.view)
                fail(seqs[s].request)
                continue
            }
            // vLLM's admission watermark: keep 1% of the cache free for running sequences to grow
            // into, or admission and preemption ping-pong every iteration (unless nothing runs).
            let reserve = work > 0 ? replicas[r].watermark : 0
            guard evict(replica: r, need: need + reserve) else { break }
            _ = replicas[r].popWaiting(in: seqs.view)
            if disaggregates && transferIn[s.index] { receiveKV(s, replica: r) }
            // Allocate what the admission was checked for, as vLLM's block manager allocates a
            // prompt's blocks when it admits it (`can_allocate`, then `allocate`): the next sequence
            // in this pass sees the memory as taken, so a pass never admits more than fits.
            seqs[s].reserved = seqs[s].pendingPrefill
            replicas[r].kvUsed += seqs[s].reserved
            if seqs[s].reserved > 0 { replicas[r].reservedSeqs += 1 }
            addRunning(s, replica: r)
            if hasWork(s) { work += 1 }
        }
    }

    /// Makes room for every decoding sequence's next token: evicts, then preempts the latest
    /// admitted. Returns false when a lone sequence that can no longer grow failed (the replica
    /// was planned again then).
    @inline(__always) func makeRoomToDecode(_ r: ReplicaID) -> Bool {
        while true {
            if replicas[r].decodeWidth <= replicas[r].free || evict(replica: r, need: replicas[r].decodeWidth) { break }
            if preemptOne(replica: r) { continue }
            // One sequence is left and still cannot grow: its context has outgrown the replica's
            // KV cache. It fails, as vLLM aborts a sequence that can no longer fit.
            guard replicas[r].running.count == 1, replicas[r].decodeWidth > 0 else { break }
            fail(seqs[replicas[r].running.tail].request)
            Scheduler.plan(self, replica: r)
            return false
        }
        return true
    }

}
