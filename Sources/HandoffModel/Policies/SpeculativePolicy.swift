import HandoffSupport

/// `speculative`: classic speculative decoding (Leviathan et al., arXiv 2211.17192; Chen et al.,
/// arXiv 2302.01318). The target (`large`) generates the first token; then, round after round,
/// the draft (`small`) decodes `draft_tokens` = k tokens, the target verifies them in one forward
/// pass over the k tokens, and a + 1 tokens come out at once: the a drafts accepted before the
/// first rejection, plus the target's own next token. Rejected drafts leave both KV caches.
///
/// Acceptance per draft position: `acceptance_from: rate` draws each position i.i.d. with
/// probability `acceptance` (a hash of `acceptance_seed`, the request and the position, so a plan
/// is deterministic and independent of scheduling); `acceptance_from: trace` accepts a position
/// whose recorded difficulty is ≤ `accept_threshold` (an easy token is one the draft gets right).
/// Output follows the target's distribution, so the accuracy is the large model's.
/// Expected tokens per round with rate α: (1 − α^(k+1)) / (1 − α). Planning is O(output tokens).
public struct SpeculativePolicy: RegisteredPolicy {
    public typealias Source = AcceptanceSource
    public var name: String { "speculative" }
    public var draftTokens: Int
    public var acceptance: Double
    public var source: Source
    public var acceptThreshold: Double
    public var seed: UInt64
    public var roles: [String] { ["small", "large"] }

    public init(
        draftTokens: Int, acceptance: Double, source: Source = .rate, acceptThreshold: Double = 0.5, seed: UInt64 = 1
    ) {
        self.draftTokens = draftTokens
        self.acceptance = acceptance
        self.source = source
        self.acceptThreshold = acceptThreshold
        self.seed = seed
    }

    init(_ r: ConfigReader) throws {
        draftTokens = try r.int("draft_tokens", default: 4, min: 1, max: 64)
        acceptance = try r.double("acceptance", default: 0.7, min: 0, max: 1)
        source = Source(
            rawValue: try r.string("acceptance_from", default: "rate", oneOf: Source.allCases.map(\.rawValue)))!
        acceptThreshold = try r.double("accept_threshold", default: 0.5, min: 0, max: 1)
        seed = UInt64(try r.int("acceptance_seed", default: 1, min: 0))
    }

    /// Uniform in [0, 1) from (seed, request, position).
    func uniform(_ r: Int, _ p: Int) -> Double { SeededHash.uniform(seed, r, p) }

    func accepted(trace: Trace, request r: Int, position p: Int) -> Bool {
        switch source {
        case .rate: return uniform(r, p) < acceptance
        case .trace: return Double(trace.difficulty[trace.tokenRange(r).lowerBound + p]) <= acceptThreshold
        }
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        let n = trace.outputTokens(r)
        guard n > 0 else { return }
        segments.append(.decode(role: 1, tokens: 1))
        var p = 1
        while p < n {
            let k = min(draftTokens, n - p - 1)
            if k == 0 {
                segments.append(.decode(role: 1, tokens: 1))
                break
            }
            var a = 0
            while a < k, accepted(trace: trace, request: r, position: p + a) { a += 1 }
            segments.append(.draft(role: 0, tokens: k))
            segments.append(.verify(role: 1, tokens: a + 1, rejecting: k))
            p += a + 1
        }
    }

    public var parameters: [(String, JSONValue)] {
        [
            ("name", .string(name)), ("draft_tokens", .number(Double(draftTokens))),
            ("acceptance", .number(acceptance)),
            ("acceptance_from", .string(source.rawValue)), ("accept_threshold", .number(acceptThreshold)),
            ("acceptance_seed", .number(Double(seed)))
        ]
    }
}

extension SpeculativePolicy {
    public static let policyNames = ["speculative"]
    public static let fields = ["draft_tokens", "acceptance", "acceptance_from", "accept_threshold", "acceptance_seed"]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try SpeculativePolicy(r) }
}
