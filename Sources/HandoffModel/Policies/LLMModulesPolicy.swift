import HandoffSupport

/// `llm-modules`: a frozen large "knowledge source" feeding a small generator through a
/// cross-attention bridge (LLM Modules, arXiv 2502.08213).
///
/// Roles: `small` is the generation model (GPT-Neo-125M in the paper), `large` the knowledge
/// source (Qwen2-1.5B), usually on the same GPU (`tiers.large.colocate_with: small`). The source
/// computes last-layer hidden states; the bridge projects them (source hidden → generator hidden),
/// passes them through an adapter and a gate, and two cross-attention layers in the generator
/// attend over them.
///
/// Variants (`variant`):
/// - `prompt`: knowledge over the prompt only — the source runs one prefill of the prompt, then
///   the generator decodes every token.
/// - `per_token`: knowledge over every generated token too, as the reference code does — before
///   each generated token the source runs over the sequence so far. With `source_kv_cache: false`
///   (the reference: no KV cache) it recomputes the whole sequence every token, O(n²) over a
///   request; with `true` it runs one incremental forward step per token.
///
/// The bridge (our reading of the paper's description; d_s = source hidden, d = generator hidden,
/// L = 2 cross-attention layers) is added to the models at load (`adjust`):
/// - on the source, run per source position: projection d_s·d + d, adapter 2·(d² + d), and each
///   cross-attention layer's K and V projections 2·(d² + d): FLOPs 2·params per position;
/// - on the generator, run per generated token: the gate (2d·d + d) and each layer's Q and output
///   projections 2·(d² + d); cross-attention reads K and V of width d per layer for every context
///   position (`ModelSpec.crossAttentionWidth` = L·d): KV memory and attention FLOPs.
/// Planning is O(output tokens).
public struct LLMModulesPolicy: RegisteredPolicy {
    public enum Variant: String, Sendable, CaseIterable { case prompt, per_token }
    public var name: String { "llm-modules" }
    public var variant: Variant
    public var sourceKVCache: Bool
    public var crossAttentionLayers = 2
    public var roles: [String] { ["small", "large"] }

    public init(variant: Variant, sourceKVCache: Bool = false) {
        self.variant = variant
        self.sourceKVCache = sourceKVCache
    }

    init(_ r: ConfigReader) throws {
        variant = Variant(
            rawValue: try r.string("variant", default: "per_token", oneOf: Variant.allCases.map(\.rawValue)))!
        sourceKVCache = try r.bool("source_kv_cache", default: false)
    }

    /// Bridge parameters (in units of 1) run per source position and per generated token.
    public static func bridgeParams(
        sourceHidden ds: Int, hidden d: Int, layers: Int
    ) -> (perSource: Double, perToken: Double) {
        let ds = Double(ds)
        let d = Double(d)
        let l = Double(layers)
        let projection = ds * d + d
        let adapter = 2 * (d * d + d)
        let kv = l * 2 * (d * d + d)
        let gate = 2 * d * d + d
        let qo = l * 2 * (d * d + d)
        return (projection + adapter + kv, gate + qo)
    }

    public func adjust(tiers: inout [TierSpec]) throws {
        guard let g = tiers.firstIndex(where: { $0.name == "small" }),
            let s = tiers.firstIndex(where: { $0.name == "large" })
        else { return }
        let p = Self.bridgeParams(
            sourceHidden: tiers[s].model.hidden, hidden: tiers[g].model.hidden, layers: crossAttentionLayers)
        tiers[s].model.paramsB += p.perSource / 1e9
        tiers[g].model.paramsB += p.perToken / 1e9
        // The bridge is dense: every token runs through it.
        tiers[s].model.activeParamsB? += p.perSource / 1e9
        tiers[g].model.activeParamsB? += p.perToken / 1e9
        tiers[g].model.crossAttentionWidth += crossAttentionLayers * tiers[g].model.hidden
    }

    public func plan(trace: Trace, request r: Int, into segments: inout [Segment]) {
        let n = trace.outputTokens(r)
        guard n > 0 else { return }
        switch variant {
        case .prompt:
            segments.append(.encode(role: 1))
            segments.append(.decode(role: 0, tokens: n))
        case .per_token:
            for _ in 0..<n {
                segments.append(.encode(role: 1, recompute: !sourceKVCache))
                segments.append(.decode(role: 0, tokens: 1))
            }
        }
    }

    public var parameters: [(String, JSONValue)] {
        [("name", .string(name)), ("variant", .string(variant.rawValue)), ("source_kv_cache", .bool(sourceKVCache))]
    }
}

extension LLMModulesPolicy {
    public static let policyNames = ["llm-modules"]
    public static let fields = ["variant", "source_kv_cache"]
    public static func make(name: String, _ r: ConfigReader) throws -> any Policy { try LLMModulesPolicy(r) }
}
