import HandoffModel
import HandoffSupport

/// A policy's segments for every request of a trace: request r's are
/// `segments[first[r] ..< first[r] + count[r]]`.
struct PolicyPlan {
    var segments: [Segment] = []
    var first: [Int32] = []
    var count: [Int32] = []
    /// Per request, in a coalesced plan: the handoffs and offloaded segments of the exact plan it
    /// came from, which the simulation reports instead of its own (empty in an exact plan).
    var exactHandoffs: [Int32] = []
    var exactOffloadSegments: [Int32] = []
    /// Per segment, in a coalesced plan: the exact plan's handoffs its window merged away, whose
    /// waits the simulation charges when the segment starts (empty in an exact plan).
    var mergedHandoffs: [Int32] = []

    /// The coarse plan of `simulation.coalesce_tokens` = `minTokens` (docs/model.md, "Coarse
    /// handoffs"): each request's plain segments are cut into windows of consecutive segments that
    /// reach `minTokens` tokens (the last may be shorter), and each window runs as one segment per
    /// role, in the order the roles first appear in it; neighbouring segments of one role are then
    /// joined. Every role keeps exactly its tokens, so the offloaded share and the accuracy (scored
    /// on the exact plan) do not move; a storm of short handoffs becomes one handoff per window. A
    /// segment of another operation or with an end (a trigger token, a verification burst, a beam)
    /// is kept as it is and closes the window before it.
    ///
    /// - Complexity: O(segments).
    func coalesced(minTokens: Int) -> PolicyPlan {
        var out = PolicyPlan()
        out.first.reserveCapacity(first.count)
        out.count.reserveCapacity(count.count)
        var window: [(role: Int, tokens: Int)] = []
        for r in 0..<first.count {
            let segs = segments[Int(first[r])..<Int(first[r] + count[r])]
            let start = out.segments.count
            var handoffs: Int32 = 0
            var offloaded: Int32 = 0
            // Role changes of the exact plan since the last flush, and the role the coarse plan
            // last ran (the flush's own changes are counted against them).
            var exactChanges: Int32 = 0
            var exactRole: Int?
            var coarseRole: Int?
            func emit(_ s: Segment, merged: Int32) {
                if s.isPlain, out.segments.count > start, let last = out.segments.last, last.isPlain,
                    last.role == s.role
                {
                    out.segments[out.segments.count - 1].tokens += s.tokens
                    out.mergedHandoffs[out.mergedHandoffs.count - 1] += merged
                } else {
                    out.segments.append(s)
                    out.mergedHandoffs.append(merged)
                }
                coarseRole = s.role
            }
            var total = 0
            func flush() {
                guard !window.isEmpty else { return }
                var coarseChanges: Int32 = 0
                var role = coarseRole
                for w in window {
                    if let p = role, p != w.role { coarseChanges += 1 }
                    role = w.role
                }
                for (k, w) in window.enumerated() {
                    emit(
                        .decode(role: w.role, tokens: w.tokens),
                        merged: k == window.count - 1 ? max(0, exactChanges - coarseChanges) : 0)
                }
                window.removeAll(keepingCapacity: true)
                total = 0
                exactChanges = 0
            }
            for s in segs {
                let change: Int32 = exactRole.map { $0 != s.role ? 1 : 0 } ?? 0
                exactRole = s.role
                handoffs += change
                if s.role != 0 { offloaded += 1 }
                guard s.isPlain else {
                    flush()
                    emit(s, merged: 0)
                    continue
                }
                exactChanges += change
                if let k = window.firstIndex(where: { $0.role == s.role }) {
                    window[k].tokens += s.tokens
                } else {
                    window.append((s.role, s.tokens))
                }
                total += s.tokens
                if total >= minTokens { flush() }
            }
            flush()
            out.first.append(Int32(start))
            out.count.append(Int32(out.segments.count - start))
            out.exactHandoffs.append(handoffs)
            out.exactOffloadSegments.append(offloaded)
        }
        return out
    }
}
