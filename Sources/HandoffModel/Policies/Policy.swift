import HandoffSupport

/// How two tiers share a request's context.
public enum ExecutionMode: String, Sendable, CaseIterable {
    /// At each handoff the receiver prefills what it has not yet seen (its prefix cache keeps the rest).
    case sequential
    /// Both tiers keep their KV caches current: the idle one streaming-prefills the active one's
    /// tokens in chunks, so a handoff only prefills the last partial chunk.
    case pipelined
}

/// A serving policy: decides, per request, which tier generates which tokens.
///
/// Every policy lives in its own file, declares its names, fields and constructor there
/// (`RegisteredPolicy`) and takes one line of `PolicyRegistry.types`. The simulator turns a
/// plan into work on tiers (prefill of unseen context, decode, network crossings), so a policy
/// only states *who generates what*.
/// How a policy's requests run across tiers: what the simulator executes, not what the plan says.
public enum Execution: Sendable, Equatable {
    /// At each handoff the receiver prefills what it has not yet seen.
    case sequential
    /// Both tiers keep a request's KV current: the idle one streaming-prefills the active one's
    /// tokens in chunks of `chunkTokens`, so a handoff prefills only the last partial chunk.
    case pipelined(chunkTokens: Int)

    public var isPipelined: Bool { self != .sequential }
    /// The streaming chunk of pipelined execution (nil when sequential).
    public var chunkTokens: Int? {
        if case .pipelined(let n) = self { return n }
        return nil
    }
}

/// A serving policy: decides, per request, which tier generates which tokens.
///
/// Every policy lives in its own file, declares its names, fields and constructor there
/// (`RegisteredPolicy`) and takes one line of `PolicyRegistry.types`. The simulator turns a
/// plan into work on tiers (prefill of unseen context, decode, network crossings), so a policy
/// only states *who generates what*, and the mechanics that are its own through the requirements
/// below: how its tiers share a context (`execution`), what it resolves at load (`resolve`), the
/// offload rule the closed-loop model predicts (`crossing`), and how it runs for real (`live`).
/// Nothing outside Policies/ casts to a concrete policy or compares a policy's name
/// (PolicyOwnershipTests).
public protocol Policy: Sendable {
    /// The name used in scenarios (`policy.name`).
    var name: String { get }
    /// How the tiers share a request's context (default sequential).
    var execution: Execution { get }
    /// Tier names the policy uses; `Segment.role` indexes this list. Role 0 is where requests enter.
    var roles: [String] { get }
    /// Appends the segments of request `r`, in order; their tokens add up to its output tokens.
    func plan(trace: Trace, request r: Int, into segments: inout [Segment])
    /// The parameters, for summaries and reports.
    var parameters: [(String, JSONValue)] { get }
    /// The parameters the plan depends on: the key under which plans are memoised (default
    /// `parameters`). A field that changes only how a plan runs (pipelined chunking) stays out, so
    /// a sweep over it plans once.
    var planParameters: [(String, JSONValue)] { get }
    /// Throws when the trace lacks what the policy reads (e.g. per-candidate step scores).
    func check(trace: Trace) throws
    /// Adjusts the tiers the policy runs on (e.g. a bridge module added to a model), at load.
    func adjust(tiers: inout [TierSpec]) throws
    /// Resolves, at load, what the policy's section names but does not hold: a file it points to,
    /// a default that depends on the scenario's tiers. `r` is the policy section; relative paths
    /// resolve against `baseDir`.
    mutating func resolve(_ r: ConfigReader, tiers: [TierSpec], baseDir: String) throws
    /// Whether the plan depends on token difficulty (default true).
    var readsDifficulty: Bool { get }
    /// The roles whose tiers the policy can serve on; the others are entry points only and unbilled.
    var servingRoles: [Int] { get }
    /// The offload rule the closed-loop model predicts and `closed-loop` fits, for a policy that
    /// hands a segment to another tier when a token's difficulty crosses a threshold; nil otherwise.
    var crossing: CrossingRule? { get }
    /// A fitted SPECS model the policy plans with (`specs_model`): the simulator samples each request's
    /// steps from it and replays them; nil otherwise.
    var specsModelRun: SpecsModelRun? { get }
    /// How `validate` runs the policy against real servers; nil when it cannot. Throws when it
    /// could, but not as configured (the message says what to change).
    func live() throws -> (any LiveExecution)?
}

extension Policy {
    public var execution: Execution { .sequential }
    public var planParameters: [(String, JSONValue)] { parameters }
    /// Whether the plan depends on token difficulty (a policy that does refuses a trace without it).
    public var readsDifficulty: Bool { true }
    /// The roles whose tiers the policy can serve on (every role by default): the tiers billed.
    public var servingRoles: [Int] { Array(roles.indices) }
    public func check(trace: Trace) throws {}
    public func adjust(tiers: inout [TierSpec]) throws {}
    public mutating func resolve(_ r: ConfigReader, tiers: [TierSpec], baseDir: String) throws {}
    public var crossing: CrossingRule? { nil }
    public var specsModelRun: SpecsModelRun? { nil }
    public func live() throws -> (any LiveExecution)? { nil }
}

/// A threshold-crossing offload (SplitReason's): the small model decodes until a token's
/// difficulty exceeds `threshold`, then the large model writes `segmentTokens`. What the
/// closed-loop model (docs/closed-loop.md) predicts a live run of, and `closed-loop` fits.
public struct CrossingRule: Sendable {
    public var threshold: Double
    public var segmentTokens: Int
    /// The fitted model the scenario names (`policy.closed_loop`), once resolved; and its file.
    public var model: ClosedLoopModel?
    public var modelFile: String?
    /// The policy that replays a realised live stream through the simulator: segments of exactly
    /// `segmentTokens`, each after one dropped trigger token.
    public var replay: any Policy
    /// The same policy planning on the trace alone: no closed-loop model.
    public var traceOnly: any Policy

    public init(
        threshold: Double, segmentTokens: Int, model: ClosedLoopModel?, modelFile: String?, replay: any Policy,
        traceOnly: any Policy
    ) {
        self.threshold = threshold
        self.segmentTokens = segmentTokens
        self.model = model
        self.modelFile = modelFile
        self.replay = replay
        self.traceOnly = traceOnly
    }
}

/// Where a draft policy's acceptance comes from (`acceptance_from`): i.i.d. draws at a rate, or
/// the trace's recorded difficulties or scores.
public enum AcceptanceSource: String, Sendable, CaseIterable { case rate, trace }

/// A policy type the registry can build: the names it answers to under `policy.name`, the
/// fields of the `policy` section it reads, and how to read them. Each policy declares these in
/// its own file; adding a policy is that file and one line of `PolicyRegistry.types`.
public protocol RegisteredPolicy: Policy {
    static var policyNames: [String] { get }
    static var fields: [String] { get }
    static func make(name: String, _ r: ConfigReader) throws -> any Policy
}

/// Builds policies from the `policy` section of a scenario.
public enum PolicyRegistry {
    /// Every policy type, in the order `policy.name`'s error lists their names.
    static let types: [any RegisteredPolicy.Type] = [
        SingleTierPolicy.self, SplitReasonPolicy.self, RoutePolicy.self, SpeculativePolicy.self,
        SpecsPolicy.self, LLMModulesPolicy.self, LoadGuardPolicy.self, OffloadBudgetPolicy.self
    ]
    public static let names = types.flatMap { $0.policyNames }
    /// The names of the policies an adaptive policy can wrap (`policy.base`).
    public static let gateableNames = types.filter { $0 is any GateablePolicy.Type }.flatMap { $0.policyNames }
    /// Every policy's fields: a policy ignores the others' (so `--set policy.name=…` can switch
    /// policies on one scenario), but a field no policy knows is an error.
    public static let allFields: [String] = {
        var out = ["name"]
        for t in types { for f in t.fields where !out.contains(f) { out.append(f) } }
        return out
    }()

    public static func make(_ r: ConfigReader) throws -> any Policy {
        let name = try r.string("name", oneOf: names)
        let p = try build(name, r)
        // The other policies' fields are range-checked too: a scenario may carry several policies'
        // settings (to switch with --set policy.name=…), and a bad value must not wait for that switch.
        for other in names where other != name {
            do { _ = try build(other, ConfigReader(r.node, path: r.path)) } catch var e as HandoffError {
                e.message += " (a field of policy \(other), checked although the policy is \(name))"
                throw e
            }
        }
        try r.finish(known: allFields)
        return p
    }

    static func build(_ name: String, _ r: ConfigReader) throws -> any Policy {
        try types.first { $0.policyNames.contains(name) }!.make(name: name, r)
    }
}

/// What a policy with a fitted SPECS model runs: the model, the rule it samples steps under, and
/// the policy that plans the sampled steps (recorded scores that take the sampled decisions).
public struct SpecsModelRun: Sendable {
    public var model: SpecsModel
    public var rule: SpecsModel.Rule
    public var replay: any Policy
    public init(model: SpecsModel, rule: SpecsModel.Rule, replay: any Policy) {
        self.model = model
        self.rule = rule
        self.replay = replay
    }
}
