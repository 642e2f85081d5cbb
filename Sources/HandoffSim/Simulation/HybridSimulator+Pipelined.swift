import HandoffModel
import HandoffSupport

/// Pipelined mode (`policy.mode: pipelined`): both tiers hold a request's KV for its lifetime.
/// The tier that does not start prefills the prompt alongside, and the idle tier prefills the
/// active one's tokens in chunks of `chunk_tokens` as they arrive (events `chunk`), so a handoff
/// prefills only the last partial chunk.
extension Simulator {
    /// Request `i` arrives: the tier that does not start follows along from the start.
    func startShadow(_ i: RequestID) {
        // The tier that does not start prefills the prompt too.
        let first = segments[Int(reqs[i].segFirst)].roleID
        let shadow = sequence(of: i, role: first.partner)
        seqs[shadow].pendingPrefill = reqs[i].context
        place(shadow)
        schedule(now + (first.isOffload ? 0 : oneWay(tokens: reqs[i].context)), .seqArrive, 0, shadow.argument)
        // The starting tier prefills the prompt as well (its arrival adds only handoff tokens).
        seqs[sequence(of: i, role: first)].pendingPrefill = reqs[i].context
    }

    /// Each sequence of `list` completed a chunk: it travels to the request's other tier.
    @inline(__always) func sendChunks(_ list: IndexList) {
        for s in list {
            let i = seqs[s].request
            let partner = sequence(of: i, role: seqs[s].role.partner)
            schedule(now + oneWay(tokens: chunkTokens), .chunk, 0, partner.argument)
        }
    }

    func chunkArrive(_ s: SequenceID) {
        let i = seqs[s].request
        if reqs[i].failed || reqs[i].done >= 0 { return }
        seqs[s].pendingPrefill += chunkTokens
        if seqs[s].dropped || !seqs[s].replica.exists { return }
        sync(s)
        if seqs[s].place == .none { replicas[seqs[s].replica].enqueue(s, in: seqs.view) }
        poke(seqs[s].replica)
    }
}
