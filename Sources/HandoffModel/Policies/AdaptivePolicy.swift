import HandoffSupport

/// What one tier is doing at the moment a policy decides (`SystemView`).
public struct TierLoad: Sendable, Equatable {
    /// Sequences queued for admission on the tier's replicas, plus those in its shared queue.
    public var waiting = 0
    /// Sequences admitted to a batch (running or stalled for memory).
    public var running = 0
    /// KV tokens free, and the KV capacity, summed over the tier's replicas (0 on an API tier).
    public var freeKVTokens = 0
    public var kvCapacityTokens = 0
    /// Work the tier has taken on and not finished: waiting plus running on a GPU tier; the calls
    /// outstanding on an API tier.
    public var inFlight = 0
    public var isAPI = false

    package init(
        waiting: Int = 0, running: Int = 0, freeKVTokens: Int = 0, kvCapacityTokens: Int = 0, inFlight: Int = 0,
        isAPI: Bool = false
    ) {
        self.waiting = waiting
        self.running = running
        self.freeKVTokens = freeKVTokens
        self.kvCapacityTokens = kvCapacityTokens
        self.inFlight = inFlight
        self.isAPI = isAPI
    }

    /// The fraction of the tier's KV cache in use (0 on an API tier).
    public var kvUse: Double { kvCapacityTokens > 0 ? 1 - Double(freeKVTokens) / Double(kvCapacityTokens) : 0 }
    /// The tier's queue as a load guard reads it: waiting sequences on a GPU tier, calls in
    /// flight on an API tier (a hosted API queues out of sight).
    public var queue: Int { isAPI ? inFlight : waiting }
}

/// The read-only view of the system an adaptive policy decides from: the time, every role's
/// tier load, and the offloads admitted over the last `windowSeconds`.
public struct SystemView: Sendable {
    public var now: Double
    /// Per role of the policy (`Policy.roles`), its tier's load.
    public var tiers: [TierLoad]
    public var windowSeconds: Double
    /// Over the window: tokens of the offloaded segments admitted, output tokens of the requests
    /// that arrived, and the estimated dollars of the admitted API calls.
    public var recentOffloadedTokens: Int
    public var recentOutputTokens: Int
    public var recentSpendUSD: Double

    package init(
        now: Double, tiers: [TierLoad], windowSeconds: Double, recentOffloadedTokens: Int, recentOutputTokens: Int,
        recentSpendUSD: Double
    ) {
        self.now = now
        self.tiers = tiers
        self.windowSeconds = windowSeconds
        self.recentOffloadedTokens = recentOffloadedTokens
        self.recentOutputTokens = recentOutputTokens
        self.recentSpendUSD = recentSpendUSD
    }

    /// Offloaded tokens admitted over arrived output tokens, in the window.
    public var recentOffloadShare: Double {
        recentOutputTokens > 0 ? Double(recentOffloadedTokens) / Double(recentOutputTokens) : 0
    }
}

/// An offloaded segment about to start, as an adaptive policy is asked about it.
public struct OffloadProposal: Sendable {
    /// The trace request, and the trace position of the segment's first token.
    public var request: Int
    public var position: Int
    /// The role the plan gives the segment (never 0), and its tokens.
    public var role: Int
    public var tokens: Int
    /// What the call would cost when the role's tier is an API (0 on a GPU tier): the tier's
    /// prices applied to the context it is sent and the tokens it returns.
    public var usd: Double

    package init(request: Int, position: Int, role: Int, tokens: Int, usd: Double) {
        self.request = request
        self.position = position
        self.role = role
        self.tokens = tokens
        self.usd = usd
    }
}

/// A static policy whose offloads a gate can hold back: it scores an offload, and offloads when
/// the score passes its threshold (`score > threshold`, or `≥` when `inclusive`).
public protocol GateablePolicy: Policy {
    var offloadThreshold: Double { get }
    var thresholdInclusive: Bool { get }
    /// The score the policy compared with its threshold to offload at `position` of request `r`.
    func offloadScore(trace: Trace, request r: Int, position: Int) -> Double
}

/// A policy that decides at segment boundaries. It plans as its `base` does (the plan is
/// memoised under the base's parameters, so static speed is kept); when a segment the plan puts
/// on another tier than the entry one is about to start, the simulator asks `admit`, and a
/// refused segment runs on the entry tier instead. The accuracy model then scores the segments
/// that ran (`SimulationOutcome.refusedOffloads`).
///
/// Sequential mode only (pipelined mode plans its chunk streams ahead), without
/// `simulation.coalesce_tokens` and without a closed-loop model: `adjust` refuses those.
public protocol AdaptivePolicy: Policy {
    var base: any GateablePolicy { get }
    /// The length of the view's window (s).
    var windowSeconds: Double { get }
    func admit(_ offload: OffloadProposal, trace: Trace, view: SystemView) -> Bool
}

extension AdaptivePolicy {
    public var execution: Execution { base.execution }
    public var roles: [String] { base.roles }
    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        base.plan(trace: trace, request: r, into: &segments)
    }
    public func check(trace: Trace) throws { try base.check(trace: trace) }

    public func adjust(tiers: inout [TierSpec]) throws { try adjustAdaptive(tiers: &tiers) }

    /// Refuses what a boundary decision cannot model, at load; the base adjusts the tiers.
    func adjustAdaptive(tiers: inout [TierSpec]) throws {
        if base.execution.isPipelined {
            throw HandoffError.input(
                "\(name) decides at handoffs, which pipelined mode plans ahead; set mode: sequential",
                field: "policy.mode")
        }
        if base.crossing?.modelFile != nil {
            throw HandoffError.input(
                "a closed-loop model replays a fitted live trajectory; \(name) decides during the run; drop closed_loop",
                field: "policy.closed_loop")
        }
        try base.adjust(tiers: &tiers)
    }

    /// The summary's parameters: `name` and `base`, the base's parameters but its name, then `own`.
    func parameters(own: [(String, JSONValue)]) -> [(String, JSONValue)] {
        [("name", .string(name)), ("base", .string(base.name))] + base.parameters.filter { $0.0 != "name" } + own
    }

    /// The base a gate wraps (`policy.base`), read from the same section: any registered policy
    /// that is a `GateablePolicy` (splitreason, route), through the registry.
    static func readBase(_ r: ConfigReader) throws -> any GateablePolicy {
        let name = try r.string("base", default: "splitreason", oneOf: PolicyRegistry.gateableNames)
        return try PolicyRegistry.build(name, r) as! any GateablePolicy
    }
}

extension SplitReasonPolicy: GateablePolicy {
    public var thresholdInclusive: Bool { false }
    /// The difficulty of the token that crossed the threshold.
    public func offloadScore(trace: Trace, request r: Int, position: Int) -> Double {
        position < trace.tokenRange(r).upperBound ? Double(trace.difficulty[position]) : 0
    }
}

extension RoutePolicy: GateablePolicy {
    public var offloadThreshold: Double { routeThreshold }
    public var thresholdInclusive: Bool { true }
    public func offloadScore(trace: Trace, request r: Int, position: Int) -> Double { score(trace: trace, request: r) }
}
