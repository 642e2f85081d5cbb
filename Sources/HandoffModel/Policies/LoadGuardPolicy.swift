import HandoffSupport

/// `load_guard`: a `splitreason` or `route` policy (`base`) that offloads only while the large
/// tier keeps up. When an offloaded segment is about to start, it runs as planned only if the
/// large tier's queue is at most `guard_queue` (waiting sequences; calls in flight on an API
/// tier), its KV use at most `guard_kv`, and the segment's score still passes the threshold
/// raised by `guard_slope` per queued sequence (τ + slope · queue). Otherwise the entry tier
/// generates the segment's tokens. With the queue below every bound, it plans as its base does.
///
/// The load-aware routing of Vidur's schedulers, applied to the handoff: the policy sees the
/// replicas (`SystemView`). Deciding costs O(replicas of the policy's tiers) per offload.
public struct LoadGuardPolicy: AdaptivePolicy, RegisteredPolicy {
    public var name: String { "load_guard" }
    public var base: any GateablePolicy
    /// Offload while the large tier's queue ≤ `queue`, its KV use ≤ `kvUse`; τ rises by `slope` per queued sequence.
    public var queue: Double
    public var kvUse: Double
    public var slope: Double
    public var windowSeconds: Double { 60 }

    public init(base: any GateablePolicy, queue: Double = 8, kvUse: Double = 1, slope: Double = 0) {
        self.base = base
        self.queue = queue
        self.kvUse = kvUse
        self.slope = slope
    }

    init(_ r: ConfigReader) throws {
        base = try Self.readBase(r)
        queue = try r.double("guard_queue", default: 8, min: 0)
        kvUse = try r.double("guard_kv", default: 1, min: 0, max: 1)
        slope = try r.double("guard_slope", default: 0, min: 0)
    }

    public func admit(_ offload: OffloadProposal, trace: Trace, view: SystemView) -> Bool {
        let large = view.tiers[offload.role]
        guard Double(large.queue) <= queue, large.kvUse <= kvUse else { return false }
        guard slope > 0 else { return true }
        let score = base.offloadScore(trace: trace, request: offload.request, position: offload.position)
        let threshold = base.offloadThreshold + slope * Double(large.queue)
        return base.thresholdInclusive ? score >= threshold : score > threshold
    }

    public var parameters: [(String, JSONValue)] {
        parameters(own: [("guard_queue", .number(queue)), ("guard_kv", .number(kvUse)), ("guard_slope", .number(slope))]
        )
    }
}

extension LoadGuardPolicy {
    public static let policyNames = ["load_guard"]
    public static let fields = ["base", "guard_queue", "guard_kv", "guard_slope"]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try LoadGuardPolicy(r) }
}
