import HandoffSupport

/// `small-only` and `large-only`: every token of every request on one tier.
/// Requests enter at the small tier's frontend; `large-only` therefore crosses the network once
/// each way (when the scenario's large tier is remote).
///
/// `single`: a plain deployment, one tier of any name (`policy.tier`, by default the scenario's
/// only tier), where requests also enter: no network crossing, no other tier needed.
public struct SingleTierPolicy: RegisteredPolicy {
    public let name: String
    public var tier: String
    public var roles: [String] { name == "single" || tier == "small" ? [tier] : ["small", tier] }

    public init(name: String, tier: String) {
        self.name = name
        self.tier = tier
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        // A request without output tokens has nothing to serve: no segment, done at arrival.
        let n = trace.outputTokens(r)
        if n > 0 { segments.append(.decode(role: roles.count - 1, tokens: n)) }
    }

    /// `single`'s tier, when not given, is the scenario's only tier.
    public mutating func resolve(_ r: ConfigReader, tiers: [TierSpec], baseDir: String) throws {
        guard name == "single", tier.isEmpty else { return }
        guard tiers.count == 1 else {
            throw r.error(
                "policy single runs one tier; name it with tier: (one of \(tiers.map(\.name).joined(separator: ", ")))",
                key: "tier")
        }
        tier = tiers[0].name
    }

    /// `small-only` and `large-only` run live: one streamed completion on their tier, the small
    /// model's token difficulties recorded. `single` is not a two-tier pair.
    public func live() throws -> (any LiveExecution)? {
        name == "single" ? nil : Alone(role: roles.count - 1, small: name == "small-only", replay: self)
    }

    struct Alone: LiveExecution {
        let role: Int
        let small: Bool
        let replay: any Policy
        var roles: [Int] { [role] }

        func next(after calls: [LiveCallResult], produced: Int, budget: Int) -> LiveCall? {
            calls.isEmpty ? LiveCall(role: role, maxTokens: budget, measuresDifficulty: small, offloaded: !small) : nil
        }

        func handoffs(_ calls: [LiveCallResult]) -> Int { 0 }
    }

    /// One tier serves every token: the plan never looks at difficulty.
    public var readsDifficulty: Bool { false }

    /// Only the serving tier: `large-only`'s small role is the frontend requests enter at.
    public var servingRoles: [Int] { [roles.count - 1] }

    public var parameters: [(String, JSONValue)] {
        name == "single" ? [("name", .string(name)), ("tier", .string(tier))] : [("name", .string(name))]
    }
}

extension SingleTierPolicy {
    public static let policyNames = ["single", "small-only", "large-only"]
    public static let fields = ["tier"]
    /// `single`'s tier is resolved against the scenario's tiers by the loader when not given.
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy {
        switch name {
        case "single": return SingleTierPolicy(name: name, tier: try r.optionalString("tier") ?? "")
        case "small-only": return SingleTierPolicy(name: name, tier: "small")
        default: return SingleTierPolicy(name: name, tier: "large")
        }
    }
}
