import HandoffModel
import HandoffSupport

/// Adaptive policies (`AdaptivePolicy`): the decision at a segment boundary, and the view it is
/// made from. Static policies never come here: every call site tests the constant `gated` first.
extension Simulator {
    /// Request `i`'s segment `k` is planned on another tier than the entry one and is about to
    /// start: asks the policy. A refused segment runs on the entry tier (`RequestState.refusedSeg`),
    /// and is recorded for the accuracy model. Returns whether it runs as planned.
    func admitOffload(_ i: RequestID, segment k: Int) -> Bool {
        let seg = segments[Int(reqs[i].segFirst) + k]
        let tr = Int(reqs[i].trace)
        let proposal = OffloadProposal(
            request: tr, position: trace.tokenRange(tr).lowerBound + reqs[i].generated, role: seg.role,
            tokens: seg.tokens, usd: apiPrice(request: i, role: seg.roleID, tokens: seg.tokens))
        ledger.advance(to: now)
        gateProposed += 1
        if gate!.admit(proposal, trace: trace, view: systemView()) {
            ledger.add(at: now, offloaded: seg.tokens, usd: proposal.usd)
            return true
        }
        reqs[i].refusedSeg = Int32(k)
        refusedOffloads.append((request: i.index, segment: k))
        gateRefusedTokens += seg.tokens
        return false
    }

    /// The view now: per role its tier's load, and the ledger's window. O(replicas of the roles' tiers).
    func systemView() -> SystemView {
        var loads: [TierLoad] = []
        loads.reserveCapacity(roleTier.count)
        for t in roleTier.elements {
            var l = TierLoad()
            l.isAPI = tierIsAPI[t]
            if l.isAPI {
                l.inFlight = apiInFlight[t]
            } else {
                for r in tierReplicas(t) {
                    l.waiting += replicas[r].waitingCount
                    l.running += replicas[r].running.count
                    l.freeKVTokens += replicas[r].free
                    l.kvCapacityTokens += replicas[r].capacity
                }
                l.waiting += tierQueue[t].count - tierQueueHead[t]
                l.inFlight = l.waiting + l.running
            }
            loads.append(l)
        }
        return SystemView(
            now: now, tiers: loads, windowSeconds: ledger.window, recentOffloadedTokens: ledger.offloaded,
            recentOutputTokens: ledger.output, recentSpendUSD: ledger.usd)
    }
}
