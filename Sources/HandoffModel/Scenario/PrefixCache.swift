import HandoffSupport

/// How an engine's KV cache shares a request's context between the branches of a beam step (the
/// n candidates of a SPECS step, decoded or scored side by side).
///
/// - `shared`: vLLM's and SGLang's block-level prefix caching. The n branches share the context's
///   blocks; a step prefills the context the tier has not seen once, plus each other branch's
///   own candidate tokens.
/// - `per_slot`: llama.cpp's `llama-server`, where each of the n concurrent completions runs in a
///   slot with its own cache (`--parallel n`, `cache_prompt`). The slot that held the kept branch
///   needs only what it has not seen; every other slot's cache matches the context only up to the
///   point where the previous step's candidates diverged (`base`), so it reads the context again
///   from there. Measured on two llama-servers (Reports/specs-llamacpp): step 1 prefilled
///   n·(prompt + L) = 187 tokens on the target where the shared model says prompt + n·L = 95, and
///   each later step (2n − 1)·L = 112 against n·L = 64.
public enum PrefixCache: String, Sendable, CaseIterable {
    case shared, per_slot

    /// The prefill of a `width`-branch step on a tier that holds `kv` of the request's `context`
    /// tokens. `candidateTokens` of the context are the step's own candidate (scoring; 0 when the
    /// tier decodes the candidates itself), and each of the other `width` − 1 branches brings that
    /// many of its own. Under `per_slot`, `base` is where the other slots' caches diverged from
    /// the context (the shared context of the previous branch step on this tier, 0 before any).
    /// Returns the tokens to prefill, those of them that are copies in the other slots (they hold
    /// KV beside the context, like branch tokens, until the step is pruned), and the new `base`.
    ///
    /// - Complexity: O(1).
    @inlinable public func branchPrefill(
        context: Int, kv: Int, width: Int, candidateTokens: Int, base: Int
    ) -> (tokens: Int, copies: Int, base: Int) {
        let own = context - kv + (width - 1) * candidateTokens
        guard self == .per_slot, width > 1 else { return (own, 0, base) }
        let sharedContext = context - candidateTokens
        let copies = (width - 1) * max(0, sharedContext - min(base, kv))
        return (own + copies, copies, sharedContext)
    }
}
