import HandoffSupport

/// `offload_budget`: a `splitreason` or `route` policy (`base`) whose offloads draw on a budget
/// per sliding window of `budget_window_s` seconds: at most `budget_tokens` offloaded tokens,
/// and at most `budget_usd` dollars of large-tier API calls (an API large tier only: a GPU tier
/// costs its hourly price whatever it serves). An offloaded segment about to start runs as
/// planned only if its tokens (and its call's estimated price) fit in what the window has left;
/// otherwise the entry tier generates them. A segment is charged in full when it starts.
///
/// Deciding costs O(1) amortised per offload (the window is a queue of admissions).
public struct OffloadBudgetPolicy: AdaptivePolicy, RegisteredPolicy {
    public var name: String { "offload_budget" }
    public var base: any GateablePolicy
    public var tokens: Int?
    public var usd: Double?
    public var windowSeconds: Double

    public init(base: any GateablePolicy, tokens: Int? = nil, usd: Double? = nil, windowSeconds: Double = 60) {
        self.base = base
        self.tokens = tokens
        self.usd = usd
        self.windowSeconds = windowSeconds
    }

    init(_ r: ConfigReader) throws {
        base = try Self.readBase(r)
        tokens = try r.optionalInt("budget_tokens", min: 0)
        usd = try r.optionalDouble("budget_usd", min: 0)
        windowSeconds = try r.double("budget_window_s", default: 60, min: 0, exclusiveMin: true)
    }

    public func admit(_ offload: OffloadProposal, trace: Trace, view: SystemView) -> Bool {
        if let tokens, view.recentOffloadedTokens + offload.tokens > tokens { return false }
        if let usd, view.recentSpendUSD + offload.usd > usd { return false }
        return true
    }

    public func adjust(tiers: inout [TierSpec]) throws {
        if tokens == nil && usd == nil {
            throw HandoffError.input(
                "offload_budget needs budget_tokens or budget_usd (per budget_window_s seconds)", field: "policy.name")
        }
        if usd != nil, let large = tiers.first(where: { $0.name == roles[1] }), large.kind != .api {
            throw HandoffError.input(
                "budget_usd caps the large tier's API spend, but tier '\(large.name)' is a GPU tier, which costs its hourly price whatever it serves; use budget_tokens",
                field: "policy.budget_usd")
        }
        try adjustAdaptive(tiers: &tiers)
    }

    public var parameters: [(String, JSONValue)] {
        parameters(
            own: (tokens.map { [("budget_tokens", JSONValue.number(Double($0)))] } ?? [])
                + (usd.map { [("budget_usd", JSONValue.number($0))] } ?? [])
                + [("budget_window_s", .number(windowSeconds))])
    }
}

extension OffloadBudgetPolicy {
    public static let policyNames = ["offload_budget"]
    public static let fields = ["base", "budget_tokens", "budget_usd", "budget_window_s"]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try OffloadBudgetPolicy(r) }
}
