import HandoffModel
import HandoffSupport

/// API tiers: a hosted model with no replicas. A call's first token comes after a sampled TTFT
/// and the rest at a sampled rate (stream "api"); it bills the context sent (the part sent
/// before at the cached price, when the tier has one) and the tokens returned.
extension Simulator {
    /// Request `i`'s segment `seg` runs as one call on API tier `t` (for role `role`).
    func startAPICall(_ i: RequestID, _ seg: Segment, role: RoleID, tier t: TierID) {
        let tier = scenario.tier(t)
        let api = tier.api!
        let ttft = api.ttftMs.sample(apiRNG) / 1000
        let rate = max(1e-9, api.tokensPerS.sample(apiRNG))
        let cached = tier.cost.cachedTokens(sentBefore: reqs[i].apiSent)
        reqs[i].apiIn += reqs[i].context - cached
        reqs[i].apiCached += cached
        reqs[i].apiOut += seg.tokens
        reqs[i].apiSent = reqs[i].context + seg.tokens
        if gated { apiInFlight[t] += 1 }
        if reqs[i].firstToken < 0, seg.tokens > 0, !seg.silent { reqs[i].firstToken = now + ttft }
        produce(request: i, role: role, tokens: seg.tokens)
        tierGenerated[t] += seg.tokens
        schedule(now + ttft + Double(max(0, seg.tokens - 1)) / rate, .apiDone, 0, i.argument)
    }

    /// What the call of `tokens` tokens on `role` would cost request `i` now, as `startOne`
    /// charges it; 0 when the role's tier is a GPU tier.
    func apiPrice(request i: RequestID, role: RoleID, tokens: Int) -> Double {
        let t = roleTier[role]
        guard tierIsAPI[t] else { return 0 }
        let cost = scenario.tier(t).cost
        let cached = cost.cachedTokens(sentBefore: reqs[i].apiSent)
        return cost.apiUSD(input: reqs[i].context - cached, cached: cached, output: tokens)
    }
}
