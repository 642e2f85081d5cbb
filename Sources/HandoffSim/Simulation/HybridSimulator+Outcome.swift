import HandoffModel
import HandoffSupport

/// The run's raw result (`SimulationOutcome`), read off the request and replica states.
extension Simulator {
    func outcome() -> SimulationOutcome {
        var out: [RequestOutcome] = []
        out.reserveCapacity(reqs.count)
        var end = 0.0
        for (i, q) in reqs.enumerated() {
            let tr = Int(q.trace)
            end = max(end, q.done)
            out.append(
                RequestOutcome(
                    id: totalRequests > trace.count
                        ? "\(trace.requests[tr].id)#\(i / trace.count)" : trace.requests[tr].id,
                    traceIndex: tr, promptTokens: trace.requests[tr].promptTokens, arrivalS: q.arrival,
                    ttftS: q.firstToken >= 0 ? q.firstToken - q.arrival : 0,
                    e2elS: q.done >= 0 ? q.done - q.arrival : 0,
                    outputTokens: q.generated, offloadedTokens: q.offloaded,
                    handoffs: Int(exactHandoffs.isEmpty ? q.handoffs : exactHandoffs[tr]),
                    offloadSegments: Int(exactOffloadSegments.isEmpty ? q.offloadSegments : exactOffloadSegments[tr]),
                    failed: q.failed || q.done < 0, rejected: q.rejected,
                    apiInputTokens: q.apiIn, apiCachedInputTokens: q.apiCached, apiOutputTokens: q.apiOut))
        }
        var tiers: [TierOutcome] = []
        for (k, spec) in scenario.tiers.enumerated() {
            let t = TierID(k)
            let rs = replicas[tierReplicas(t)]
            tiers.append(
                TierOutcome(
                    name: spec.name, peakKVTokens: rs.map(\.peakKV).max() ?? 0,
                    busySeconds: rs.reduce(0) { $0 + $1.busySeconds }, iterations: rs.reduce(0) { $0 + $1.iterations },
                    preemptions: rs.reduce(0) { $0 + $1.preemptions }, evictions: rs.reduce(0) { $0 + $1.evictions },
                    generatedTokens: tierGenerated[t], prefilledTokens: tierPrefilled[t]))
            if cachesBlocks && tierBlockCache[t] {
                let cs = blockCaches[tierFirstReplica[t].index..<tierEnd(t).index]
                tiers[k].prefixLookedUpTokens = cs.reduce(0) { $0 + $1.lookedUpTokens }
                tiers[k].prefixHitTokens = cs.reduce(0) { $0 + $1.hitTokens }
                tiers[k].prefixEvictedBlocks = cs.reduce(0) { $0 + $1.evictedBlocks }
            }
            if spec.disaggregation != nil { splitOutcome(t, into: &tiers[k]) }
        }
        let stalled = reqs.reduce(0) { $0 + ($1.done < 0 && !$1.failed ? 1 : 0) }
        var o = SimulationOutcome(
            requests: out, tiers: tiers, endTime: end, events: events, clockWentBackwards: backwards,
            kvOverflow: overflow,
            stalledRequests: stalled)
        o.arrivalTimeScale = arrivalTimeScale
        if gated {
            o.refusedOffloads = refusedOffloads
            o.gate = (gateProposed, gateRefusedTokens)
        }
        return o
    }
}
