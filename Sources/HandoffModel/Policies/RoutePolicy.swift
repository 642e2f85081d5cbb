import HandoffSupport

/// `route`: whole-request routing, as RouteLLM (arXiv 2406.18665) routes between a weak and a
/// strong model. A request goes to the large tier when its difficulty score is ≥ `route_threshold`
/// (τ), otherwise every token stays on the small tier; nothing is handed over mid-request.
///
/// The score aggregates the request's token difficulties (`route_score`): `mean`, `max`, or
/// `p90` (the 90th percentile, nearest rank). A router sees the prompt, not the answer: the
/// aggregate stands in for a learned router's prediction of that difficulty. τ = 0 sends every
/// request to the large tier (the numbers of `large-only`); τ above every score sends none (those
/// of `small-only`). `tune --target offload.request_fraction=S --vary policy.route_threshold=0:1`
/// calibrates τ to a share S of large-model requests, as RouteLLM calibrates its threshold.
/// Planning is O(output tokens) per request (O(n log n) for `p90`).
public struct RoutePolicy: RegisteredPolicy {
    public enum Score: String, Sendable, CaseIterable { case mean, max, p90 }
    public var name: String { "route" }
    public var routeThreshold: Double
    public var score: Score
    public var roles: [String] { ["small", "large"] }

    public init(routeThreshold: Double, score: Score = .mean) {
        self.routeThreshold = routeThreshold
        self.score = score
    }

    init(_ r: ConfigReader) throws {
        routeThreshold = try r.double("route_threshold", default: 0.5, min: 0, max: 1)
        score = Score(rawValue: try r.string("route_score", default: "mean", oneOf: Score.allCases.map(\.rawValue)))!
    }

    /// The request's difficulty score.
    public func score(trace: Trace, request r: Int) -> Double {
        let range = trace.tokenRange(r)
        guard !range.isEmpty else { return 0 }
        let d = trace.difficulty
        switch score {
        case .mean: return range.reduce(0.0) { $0 + Double(d[$1]) } / Double(range.count)
        case .max: return range.reduce(0.0) { Swift.max($0, Double(d[$1])) }
        case .p90:
            let v = d.values(range).sorted()
            return Double(v[Swift.min(v.count - 1, Int((0.9 * Double(v.count)).rounded(.up)) - 1)])
        }
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        let n = trace.outputTokens(r)
        guard n > 0 else { return }  // nothing to serve: done at arrival, as every policy does it
        segments.append(.decode(role: score(trace: trace, request: r) >= routeThreshold ? 1 : 0, tokens: n))
    }

    public var parameters: [(String, JSONValue)] {
        [
            ("name", .string(name)), ("route_threshold", .number(routeThreshold)),
            ("route_score", .string(score.rawValue))
        ]
    }
}

extension RoutePolicy {
    public static let policyNames = ["route"]
    public static let fields = ["route_threshold", "route_score"]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try RoutePolicy(r) }
}
