import Foundation
import HandoffModel
import HandoffSupport

/// Replays a trace through a scenario's tiers under its policy: the discrete-event model.
///
/// Events: request arrival; a sequence's work reaching a replica (after the network); a replica's
/// iteration run ending; a pipelined chunk reaching the idle tier; an API call ending; remote
/// tokens reaching the frontend. The number of events grows with arrivals, handoffs, chunks and
/// batch changes, not with tokens.
///
/// The simulator's parts, one extension per file, in the order an event meets them:
/// `+Arrivals` (arrival processes, closed loops), `+Segments` (a request's segments: handoffs,
/// delivery to a replica, a segment's end, the request's end), `+Router` (which replica),
/// `+Iterations` (the replica schedulers' building blocks: planning a run of iterations, ending
/// it; the schedulers themselves are in Schedulers/),
/// `+Replicas` (admission queues, KV, eviction, preemption), `+Decode` (lazy decode accounting),
/// `+PrefixBlocks` (prompt blocks cached across requests), `+Pipelined`, `+API` (API tiers),
/// `+Gate` (adaptive policies' decisions), `+Disaggregation` (tiers split into prefill and decode
/// pools), `+Outcome`, and `+Invariants` (the bookkeeping checked after every event in the
/// tests). Requests, sequences and replicas are named by `RequestID`, `SequenceID` and
/// `ReplicaID` (`SlabID.swift`), which index `reqs`, `seqs` and `replicas`; a request's sequences
/// are `seqBase` plus its roles (then a decode sequence per role on a split tier). Tiers and
/// roles are `TierID` and `RoleID`, indexing the per-tier and per-role `IDArray`s.
///
/// The replica scheduler (admission, batch formation, the end of a run) is the generic parameter
/// `Scheduler` (`ReplicaScheduler.swift`), which the compiler specialises: the core calls
/// `Scheduler.plan` and `Scheduler.finishRun` with no dynamic dispatch. `HybridSimulator` is the
/// public face of the simulator with today's vLLM-style scheduler.
final class Simulator<Scheduler: ReplicaScheduler> {
    enum Kind: UInt8 { case arrival, seqArrive, runEnd, chunk, apiDone, requestReturn, kvArrive }

    struct RequestState {
        var trace: Int32
        var arrival: Double
        var segFirst: Int32
        var segCount: Int32
        var seg: Int32 = 0
        var seqBase: SequenceID
        var context: Int
        var location = RoleID.entry
        /// The role that decoded the newest silent tokens (credited when they are revealed).
        var silentRole = RoleID.entry
        var stagedHandoff = 0
        var firstToken = -1.0
        /// When the newest revealed output reaches the frontend: the request cannot finish earlier.
        var revealedAt = -1.0
        var done = -1.0
        var handoffs: Int32 = 0
        var offloadSegments: Int32 = 0
        var offloaded = 0
        var generated = 0
        var failed = false
        var rejected = false
        /// Segments of the current parallel group still running (1 outside groups). Beside the
        /// flags, in their padding: the struct keeps its size.
        var pending: Int16 = 1
        /// The segment an adaptive policy refused to offload (it runs on the entry tier), or −1.
        /// Beside the flags, in their padding: the struct keeps its size.
        var refusedSeg: Int32 = -1
        var apiSent = 0
        var apiIn = 0, apiCached = 0, apiOut = 0
    }

    let scenario: Scenario
    let trace: Trace
    let policy: any Policy
    /// The policy when it decides at segment boundaries (`HybridSimulator+Gate.swift`), and
    /// whether it does: a constant every boundary tests before anything else.
    let gate: (any AdaptivePolicy)?
    let gated: Bool
    var ledger: OffloadLedger
    var gateProposed = 0, gateRefusedTokens = 0
    var refusedOffloads: [(request: Int, segment: Int)] = []
    /// Per tier, API calls in flight (kept only when gated).
    var apiInFlight = IDArray<TierID, Int>([])
    let roleTier: IDArray<RoleID, TierID>
    /// Each role's tier's `prefix_cache` (how beam branches share the context's KV).
    let rolePrefixCache: IDArray<RoleID, PrefixCache>
    /// Per tier: an API tier (no replicas), and whether finished sequences park for prefix reuse.
    /// Kept apart so the per-segment path reads a `Bool` instead of copying a whole `TierSpec`.
    let tierIsAPI: IDArray<TierID, Bool>
    let tierCachesPrefixes: IDArray<TierID, Bool>
    let pipelined: Bool
    let chunkTokens: Int
    let replicas: Slab<ReplicaID, Replica>
    /// Per tier, its first replica; one more entry, the end of the last tier's.
    var tierFirstReplica = IDArray<TierID, ReplicaID>([])
    var seqs = Slab<SequenceID, SequenceState>(capacity: 0)
    /// Per sequence, when a tier has per-slot prefix caches (`PrefixCache.per_slot`; empty
    /// otherwise): where the other slots' caches of the request diverge from its context. Kept out
    /// of `SequenceState`, whose every access a larger element makes dearer (+1.6% instructions).
    var slotBase: [Int] = []
    /// Prompt blocks shared across requests (`HybridSimulator+PrefixBlocks.swift`), when a tier
    /// caches them (`request_prefix_cache`; all empty otherwise): per replica its cache, per tier
    /// whether it caches, per sequence the prompt blocks it references, per trace request its
    /// block ids (`blockIDs[blockStart[r]..<blockStart[r + 1]]`), and the tokens a block holds.
    var blockCaches: [BlockCache] = []
    /// Some tier caches prompt blocks across requests: a constant the hot paths test before
    /// touching any of the arrays above.
    let cachesBlocks: Bool
    let tierBlockCache: IDArray<TierID, Bool>
    let tierPrefixAffinity: IDArray<TierID, Bool>
    var prefixHeld: [Int32] = []
    var blockIDs: [Int] = []
    var blockStart: [Int] = []
    let blockTokens: Int
    /// Per sequence, its place in the lazy decode accounting (`HybridSimulator+Decode.swift`).
    var lane = Slab<SequenceID, Int>(capacity: 0)
    /// `finishRun`'s buffers, kept between calls (it never runs inside itself).
    let finishedList = IndexList(), doneList = IndexList(), mergedList = IndexList(), chunkList = IndexList()
    var spareBatch: [SequenceID] = []
    var reqs = Slab<RequestID, RequestState>(capacity: 0)
    var segments: [Segment] = []
    /// Per trace request, with `simulation.coalesce_tokens`: the exact plan's handoffs and
    /// offloaded segments, reported in place of the coarse run's (empty otherwise).
    var exactHandoffs: [Int32] = [], exactOffloadSegments: [Int32] = []
    /// Per segment, with `simulation.coalesce_tokens`: the exact handoffs merged into it.
    var mergedHandoffs: [Int32] = []
    var queue = EventQueue(capacity: 4096)
    let netRNG: RandomStream
    let apiRNG: RandomStream
    let arrivalRNG: RandomStream
    var tierGenerated: IDArray<TierID, Int>
    let sharedQueue: IDArray<TierID, Bool>
    var tierQueue: IDArray<TierID, [SequenceID]>
    var tierQueueHead: IDArray<TierID, Int>
    var tierPrefilled: IDArray<TierID, Int>
    var now = 0.0
    var events = 0
    var backwards = false
    var overflow = false
    var nextClosedLoop = 0
    /// The factor replayed arrival times were scaled by to meet `traffic.rate_rps` (nil: as recorded).
    var arrivalTimeScale: Double?
    /// Requests arrived and not yet finished or failed.
    var inFlight = 0
    let totalRequests: Int
    /// The replica sharing a device with each replica (colocated tiers), or `.none`.
    var partner: [ReplicaID] = []
    /// Per tier, the tier whose GPUs it runs on (its host when colocated, else itself).
    var device = IDArray<TierID, TierID>([])
    /// Check the replica bookkeeping after every event (`checkInvariants()`; slow, for tests).
    public var checksInvariants = false
    /// Count decoding sequences lazily where a run batches them all (`HybridSimulator+Decode.swift`);
    /// off, every run is eager. The results are the same: tests compare the two.
    public var decodesLazily = true
    /// `decodesLazily` and not pipelined, fixed when the run starts: the `prefilling` lists and the
    /// lazy sets are kept only then.
    var tracksLazy = false
    /// Tiers split into prefill and decode pools (`HybridSimulator+Disaggregation.swift`): whether
    /// any is, a constant the hot paths test first; per replica, whether it is a prefill-pool
    /// replica; per tier, its decode pool's first replica (the tier's end when not split); per
    /// role, its decode sequence's offset from a request's `seqBase` (−1: its tier is not split);
    /// sequences per request; per sequence, whether its pending prefill is KV coming over the
    /// link; per replica, when its link is next free; per tier, the transfers.
    let disaggregates: Bool
    var prefillPool: [Bool] = []
    var tierDecodeFirst = IDArray<TierID, ReplicaID>([])
    let roleDecodeOffset: IDArray<RoleID, Int>
    let sequencesPerRequest: Int
    var transferIn: [Bool] = []
    var linkFree: [Double] = []
    var transfers = IDArray<TierID, KVTransfers>([])

    public init(scenario: Scenario, trace: Trace) {
        self.scenario = scenario
        self.trace = trace
        policy = scenario.policy
        gate = policy as? any AdaptivePolicy
        gated = gate != nil
        ledger = OffloadLedger(window: gate?.windowSeconds ?? 0)
        apiInFlight = IDArray(repeating: 0, count: scenario.tiers.count)
        roleTier = IDArray(policy.roles.map { TierID(scenario.tierIndex($0)!) })
        rolePrefixCache = IDArray(roleTier.elements.map { scenario.tier($0).prefixCache })
        tierIsAPI = IDArray(scenario.tiers.map { $0.kind == .api })
        tierCachesPrefixes = IDArray(scenario.tiers.map(\.prefixCaching))
        tierBlockCache = IDArray(scenario.tiers.map { $0.requestPrefixCache && $0.kind == .gpu })
        tierPrefixAffinity = IDArray(scenario.tiers.map { $0.routing == .prefix_affinity })
        blockTokens = scenario.prefixBlockTokens
        pipelined = policy.execution.isPipelined
        chunkTokens = policy.execution.chunkTokens ?? 0
        netRNG = RandomStream(seed: scenario.seed, name: "network")
        apiRNG = RandomStream(seed: scenario.seed, name: "api")
        arrivalRNG = RandomStream(seed: scenario.seed, name: "arrivals")
        replicas = Slab(capacity: scenario.tiers.reduce(0) { $0 + ($1.kind == .gpu ? $1.replicas : 0) })
        for (t, spec) in scenario.tiers.enumerated() {
            tierFirstReplica.elements.append(replicas.endIndex)
            guard spec.kind == .gpu else { continue }
            for pool in spec.pools {
                for k in 0..<pool.replicas { replicas.append(Replica(tier: TierID(t), index: k, spec: pool)) }
            }
        }
        tierFirstReplica.elements.append(replicas.endIndex)
        var offsets: [Int] = []
        var extra = 0
        for t in roleTier.elements {
            offsets.append(scenario.tier(t).disaggregation == nil ? -1 : policy.roles.count + extra)
            if scenario.tier(t).disaggregation != nil { extra += 1 }
        }
        roleDecodeOffset = IDArray(offsets)
        sequencesPerRequest = policy.roles.count + extra
        disaggregates = scenario.tiers.contains { $0.disaggregation != nil }
        cachesBlocks = tierBlockCache.elements.contains(true) && !pipelined
        if cachesBlocks {
            blockCaches = Array(repeating: BlockCache(blockTokens: scenario.prefixBlockTokens), count: replicas.count)
        }
        partner = [ReplicaID](repeating: .none, count: replicas.count)
        device = IDArray(scenario.tiers.indices.map(TierID.init))
        for (k, spec) in scenario.tiers.enumerated() {
            guard let host = spec.colocateWith, let hostIndex = scenario.tierIndex(host) else { continue }
            let t = TierID(k)
            let h = TierID(hostIndex)
            device[t] = h
            for k in 0..<spec.replicas {
                partner[tierFirstReplica[t].index + k] = tierFirstReplica[h].advanced(by: k)
                partner[tierFirstReplica[h].index + k] = tierFirstReplica[t].advanced(by: k)
            }
        }
        tierGenerated = IDArray(repeating: 0, count: scenario.tiers.count)
        sharedQueue = IDArray(scenario.tiers.map { $0.routing == .shared_queue })
        tierQueue = IDArray(repeating: [], count: scenario.tiers.count)
        tierQueueHead = IDArray(repeating: 0, count: scenario.tiers.count)
        tierPrefilled = tierGenerated
        totalRequests = scenario.traffic.requests ?? trace.count
        prepareDisaggregation()
    }

    /// Runs the simulation to completion. O((arrivals + handoffs + chunks + batch changes) · log).
    public func run() throws -> SimulationOutcome {
        try policy.check(trace: trace)
        try checkDisaggregation()
        let plan = policyPlan()
        exactHandoffs = plan.exactHandoffs
        exactOffloadSegments = plan.exactOffloadSegments
        mergedHandoffs = plan.mergedHandoffs
        segments = plan.segments
        try createRequests(plan)
        slotBase = rolePrefixCache.elements.contains(.per_slot) ? Array(repeating: 0, count: seqs.count) : []
        if disaggregates { transferIn = Array(repeating: false, count: seqs.count) }
        preparePrefixBlocks()
        tracksLazy = decodesLazily && !pipelined
        lane = Slab(capacity: seqs.count)
        for _ in 0..<seqs.count { lane.append(Self.laneNone) }
        scheduleArrivals()
        while let e = queue.pop() {
            if e.time < now { backwards = true }
            now = e.time
            events += 1
            switch Kind(rawValue: e.kind)! {
            case .arrival: arrive(RequestID(argument: e.argument))
            case .seqArrive: seqArrive(SequenceID(argument: e.argument))
            case .runEnd:
                let r = ReplicaID(e.target)
                if replicas[r].busy && replicas[r].version == e.argument { Scheduler.finishRun(self, replica: r) }
            case .chunk: chunkArrive(SequenceID(argument: e.argument))
            case .apiDone:
                let i = RequestID(argument: e.argument)
                if gated { apiInFlight[roleTier[reqs[i].location]] -= 1 }
                segmentDone(seq: .none, request: i)
            case .requestReturn: complete(RequestID(argument: e.argument), at: now)
            case .kvArrive: kvArrive(SequenceID(argument: e.argument))
            }
            if checksInvariants { checkInvariants() }
        }
        return outcome()
    }

    /// Every trace request's plan, once per trace and policy (a sweep over serving fields reuses
    /// it); an adaptive policy's is its base's. With `simulation.coalesce_tokens`, the coarse plan.
    func policyPlan() -> PolicyPlan {
        let planned = min(trace.count, totalRequests)
        let planPolicy: any Policy = gate?.base ?? policy
        let planKey = PlanKey(
            requests: planned, policy: JSONWriter.write(.object(planPolicy.planParameters)), coalesceTokens: 0)
        let exact = trace.memoised(planKey) { () -> PolicyPlan in
            var p = PolicyPlan()
            var buffer: [Segment] = []
            for r in 0..<planned {
                buffer.removeAll(keepingCapacity: true)
                planPolicy.plan(trace: trace, request: r, into: &buffer)
                p.first.append(Int32(p.segments.count))
                p.count.append(Int32(buffer.count))
                p.segments.append(contentsOf: buffer)
            }
            return p
        }
        let coarse = scenario.simulation.coalesceTokens
        return coarse > 0
            ? trace.memoised(PlanKey(requests: planned, policy: planKey.policy, coalesceTokens: coarse)) {
                exact.coalesced(minTokens: coarse)
            } : exact
    }

    /// The memo key of a trace's plan: how many requests, the policy's plan parameters, and the
    /// coalescing (0: the exact plan).
    struct PlanKey: MemoKey {
        typealias Value = PolicyPlan
        let requests: Int
        let policy: String
        let coalesceTokens: Int
    }

    @inline(__always) func schedule(_ time: Double, _ kind: Kind, _ target: Int, _ arg: UInt32) {
        queue.push(Event(time: time, kind: kind.rawValue, target: target, argument: arg))
    }

    /// One-way network delay for `tokens` tokens of payload: RTT/2 + bytes / bandwidth.
    func oneWay(tokens: Int) -> Double {
        let n = scenario.network
        return n.rttMs.sample(netRNG) / 2000 + Double(tokens) * n.bytesPerToken * 8 / (n.bandwidthGbps * 1e9)
    }
}
