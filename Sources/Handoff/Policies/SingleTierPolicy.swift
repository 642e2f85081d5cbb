/// `small-only` and `large-only`: every token of every request on one tier.
/// Requests enter at the small tier's frontend; `large-only` therefore crosses the network once
/// each way (when the scenario's large tier is remote).
public struct SingleTierPolicy: Policy {
    public let name: String
    public let tier: String
    public var mode: ExecutionMode { .sequential }
    public var roles: [String] { tier == "small" ? ["small"] : ["small", tier] }

    public init(name: String, tier: String) {
        self.name = name
        self.tier = tier
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        // A request without output tokens has nothing to serve: no segment, done at arrival.
        let n = trace.outputTokens(r)
        if n > 0 { segments.append(Segment(role: tier == "small" ? 0 : 1, tokens: n)) }
    }

    public var parameters: [(String, JSONValue)] { [("name", .string(name))] }
}
