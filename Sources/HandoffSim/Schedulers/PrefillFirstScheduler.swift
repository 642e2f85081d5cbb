import HandoffModel
import HandoffSupport

/// vLLM V0's default scheduler (`--enable-chunked-prefill` off), Orca-style prefill priority:
/// while any admitted prompt can be prefilled, an iteration prefills whole prompts only, in
/// admission order (first come, first served: a prompt that does not fit the token budget or the
/// free KV waits, and so do the ones behind it); the decoders wait for it. With no prompt to
/// prefill, every decoder decodes one token. So TTFT falls and TPOT rises with every arrival,
/// the trade-off Sarathi-Serve's stall-free batching (`VLLMScheduler`) removes (Agrawal et al.,
/// OSDI 2024, "Taming Throughput-Latency Tradeoff in LLM Inference with Sarathi-Serve").
///
/// Admission, eviction, preemption and the end of a run are `VLLMScheduler`'s (`+Replicas`,
/// `+Iterations`). Runs are eager (a prefill iteration leaves the decoders out, which the lazy
/// decode sums cannot express); decode-only runs in which the batch cannot change are still one
/// event. A prompt longer than `max_num_batched_tokens` runs alone in budget-sized chunks, where
/// vLLM V0 refuses it (it requires max_num_batched_tokens ≥ max_model_len).
enum PrefillFirstScheduler: ReplicaScheduler {
    static func plan(_ sim: Simulator<Self>, replica r: ReplicaID) {
        guard sim.admitForPlan(r) else { return }
        sim.dropLazy(r)
        var load = IterationLoad()
        var minLeft = Int.max
        var slots = sim.replicas[r].maxSeqs
        prefillWholePrompts(sim, r, load: &load, slots: &slots)
        if load.prefillTokens == 0 {
            for s in sim.replicas[r].decoding where slots > 0 {
                sim.batchDecode(s, replica: r, load: &load, slots: &slots, minLeft: &minLeft)
            }
        }
        if load.decodeSeqs == 0 && load.prefillTokens == 0 {
            sim.unstick(r)
            return
        }
        sim.launch(r, lazy: false, load: load, minLeft: minLeft)
    }

    /// The iteration's prompts: whole, in admission order, within the token budget and the free KV
    /// (less a token per decoder, which the next decode iteration needs; cached contexts are
    /// evicted for them as vLLM does).
    static func prefillWholePrompts(_ sim: Simulator<Self>, _ r: ReplicaID, load: inout IterationLoad, slots: inout Int)
    {
        var budget = sim.replicas[r].maxBatchedTokens
        var avail = sim.replicas[r].free - sim.replicas[r].decodeWidth
        let active = sim.replicas[r].active
        for s in active where slots > 0 {
            let pending = sim.seqs[s].pendingPrefill
            guard pending > 0 else { continue }
            let chunk = load.prefillTokens == 0 ? min(pending, budget) : pending
            guard chunk <= budget else { break }
            let reserved = sim.seqs[s].reserved
            if avail < chunk - reserved {
                let before = sim.replicas[r].free
                _ = sim.evict(replica: r, need: before + chunk - reserved - avail)
                avail += sim.replicas[r].free - before
                guard avail >= chunk - reserved else { break }
            }
            slots -= 1
            sim.seqs[s].batch = chunk
            sim.replicas[r].batch.append(s)
            sim.replicas[r].latency.addPrefill(&load, chunk: chunk, context: sim.seqs[s].kv)
            budget -= chunk
            avail -= max(0, chunk - reserved)
        }
    }
}
