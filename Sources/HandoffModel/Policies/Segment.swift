import HandoffSupport

/// One step of a request's plan: an operation on one role's tier, and what happens when it ends.
///
/// A policy composes its plan from five operations (`Work`) and three ends (`SegmentEnd`):
///
/// - `decode(role:tokens:)`: the tier decodes output tokens (every policy);
/// - `draft(role:tokens:width:)`: decodes into the context, not the output, `width` branches side
///   by side (SplitReason's trigger, speculative drafts, SPECS candidates);
/// - `verify(role:tokens:rejecting:)`: emits `tokens` from the iteration that ends its prefill,
///   then the rejected drafts leave the context (speculative decoding);
/// - `score(role:candidates:tokens:)`: reads the context it has not seen plus each other
///   candidate's tokens, decodes nothing (SPECS scorers);
/// - `encode(role:recompute:)`: reads the context it has not seen, all of it with `recompute`
///   (LLM Modules' knowledge source).
///
/// Ends, applied in this order when the segment (or its parallel group) finishes: `rollingBack(n)`
/// drops the context's last n tokens from every tier's KV, `pruning()` frees every tier's KV
/// beyond the context (the candidates not kept), `revealing(n)` turns the newest n drafted tokens
/// into output. `joiningNext()` runs the segment at the same time as the next one (a group of
/// scorers); the request goes on when all of the group have finished.
///
/// A segment is made only by the operations and changed only by the ends (a coarse plan adds
/// tokens to a decode, a refused offload moves a segment to role 0), so a prefill that decodes or
/// a verification of several branches cannot be written.
///
/// The simulator executes the operations (`HybridSimulator+Segments.swift`: delivery and a
/// segment's end; `+Iterations`: what an iteration produces) and `AccuracyModel.weight` scores
/// them; both read the few properties below (`silent`, `width`, …), never the operation's name.
public struct Segment: Sendable, Equatable {
    /// Index into the policy's `roles`.
    public internal(set) var role: Int
    /// Tokens decoded (0 for `score` and `encode`).
    public package(set) var tokens: Int
    public private(set) var work: Work
    public private(set) var end: SegmentEnd
    /// Runs at the same time as the next segment (on another tier). Group members are
    /// prefill-only (`score`, `encode`).
    public private(set) var joinsNext: Bool

    /// What a segment's tier does.
    public enum Work: Sendable, Equatable {
        /// Decode `tokens` output tokens.
        case decode
        /// Decode `tokens` into the context without output (a trigger token such as SplitReason's
        /// `<bigmodel>`, or draft candidates): each of the `width` branches decodes `tokens`; every
        /// iteration counts `width` sequences and grows the KV by `width` (vLLM's `n` sequences
        /// sharing the context as a cached prefix). The context grows by `tokens` (the branch that
        /// will be kept); the others stay in the tier's KV until pruned.
        case draft(width: Int)
        /// All `tokens` come out of the iteration that finishes the tier's prefill, as when a
        /// target model verifies draft tokens in one forward pass.
        case verify
        /// Prefill only: the tier reads the context it has not seen, plus `tokens` for each of the
        /// other `candidates` − 1 branches of the newest step (scoring candidates by prefill), plus
        /// `prompt` of each candidate's own scoring prompt (a verifier's question; 0 for a reward
        /// model or a likelihood score), which leave the KV with the step's pruning.
        case score(candidates: Int, tokens: Int, prompt: Int)
        /// Prefill only: the tier reads the context it has not seen; with `recompute` it drops its
        /// KV first and reads all of it (a model run without a KV cache).
        case encode(recompute: Bool)
    }

    /// A plain decode of `tokens` output tokens on `role`.
    public init(role: Int, tokens: Int) {
        self.init(role: role, tokens: tokens, work: .decode)
    }

    private init(role: Int, tokens: Int, work: Work, end: SegmentEnd = SegmentEnd(), joinsNext: Bool = false) {
        self.role = role
        self.tokens = tokens
        self.work = work
        self.end = end
        self.joinsNext = joinsNext
    }

    // The operations.

    public static func decode(role: Int, tokens: Int) -> Segment { Segment(role: role, tokens: tokens) }

    /// `tokens` decoded into the context, not output, on each of `width` branches.
    public static func draft(role: Int, tokens: Int, width: Int = 1) -> Segment {
        Segment(role: role, tokens: tokens, work: .draft(width: width))
    }

    /// `tokens` emitted from one forward pass, then the `rejecting` drafts before them leave the
    /// context (speculative verification: accepted drafts plus the verifier's own token).
    public static func verify(role: Int, tokens: Int, rejecting: Int) -> Segment {
        Segment(role: role, tokens: tokens, work: .verify, end: SegmentEnd(rollback: rejecting))
    }

    /// The context, plus `tokens` for each other candidate of `candidates`, plus `prompt` per
    /// candidate, read by prefill.
    public static func score(role: Int, candidates: Int, tokens: Int, prompt: Int = 0) -> Segment {
        Segment(role: role, tokens: 0, work: .score(candidates: candidates, tokens: tokens, prompt: prompt))
    }

    /// The context read by prefill (all of it, with `recompute`).
    public static func encode(role: Int, recompute: Bool = false) -> Segment {
        Segment(role: role, tokens: 0, work: .encode(recompute: recompute))
    }

    // The ends.

    /// When the segment ends, the newest `n` drafted tokens become output.
    public func revealing(_ n: Int) -> Segment { with { $0.end.reveal = n } }
    /// When the segment ends, every tier's KV beyond the context is freed.
    public func pruning() -> Segment { with { $0.end.prune = true } }
    /// When the segment ends, the context's last `n` tokens are dropped from it and every KV.
    public func rollingBack(_ n: Int) -> Segment { with { $0.end.rollback = n } }
    /// Runs at the same time as the next segment.
    public func joiningNext() -> Segment { with { $0.joinsNext = true } }

    private func with(_ change: (inout Segment) -> Void) -> Segment {
        var s = self
        change(&s)
        return s
    }

    // What the executor reads.

    /// Decoded but not output: costs a decode step and context, not output or a first token.
    @inlinable package var silent: Bool {
        if case .draft = work { return true }
        return false
    }
    /// Every token comes out of the iteration that finishes the prefill.
    @inlinable package var burst: Bool {
        if case .verify = work { return true }
        return false
    }
    /// Branches side by side: a draft's width, a score's candidates, else 1.
    @inlinable package var width: Int {
        switch work {
        case .draft(let width): return width
        case .score(let candidates, _, _): return candidates
        case .decode, .verify, .encode: return 1
        }
    }
    /// Reads by prefill and decodes nothing.
    @inlinable package var prefillOnly: Bool {
        switch work {
        case .score, .encode: return true
        case .decode, .draft, .verify: return false
        }
    }
    /// Tokens read for each other candidate (`score`).
    @inlinable package var branchTokens: Int {
        if case .score(_, let tokens, _) = work { return tokens }
        return 0
    }
    /// Tokens of each candidate's own scoring prompt (`score`), beyond the context and the branches.
    @inlinable package var promptTokens: Int {
        if case .score(_, _, let prompt) = work { return prompt }
        return 0
    }
    /// The tier drops its KV before it reads.
    @inlinable package var recompute: Bool {
        if case .encode(recompute: true) = work { return true }
        return false
    }
    /// A plain decode with no end: what coalescing may merge.
    package var isPlain: Bool { tokens > 0 && work == .decode && end == SegmentEnd() && !joinsNext }
}

/// What happens when a segment, or its parallel group, ends (in this order).
public struct SegmentEnd: Sendable, Equatable {
    /// Tokens dropped from the end of the context (rejected drafts or a rejected step): the
    /// context shrinks, and every tier's KV beyond it is freed.
    public var rollback = 0
    /// This many silent context tokens become output (a candidate step accepted by its scorers).
    public var reveal = 0
    /// Every tier's KV beyond the context is freed: the branches not kept. (Stored last: the
    /// segment is 64 bytes, not 72.)
    public var prune = false

    public init(rollback: Int = 0, prune: Bool = false, reveal: Int = 0) {
        self.rollback = rollback
        self.prune = prune
        self.reveal = reveal
    }
}
