import HandoffSupport

/// Predicts accuracy from outcome labels.
///
/// A request with labels (s, l) — small-only and large-only correct, 0 or 1 — is predicted
/// correct with probability
///
///     p = s + (l − s) · w,   w = Σ_{offloaded tokens} dᵞ / Σ_{all tokens} dᵞ
///
/// where d are the token difficulties and γ = `accuracy.difficulty_exponent`. w is the share of
/// the request's difficulty mass that the large model generated: 0 for small-only, 1 for
/// large-only; with γ > 1 the hardest tokens weigh most, so offloading a few of them moves the
/// request most of the way to its large-only outcome (SplitReason: ~5% of tokens offloaded recovers
/// most of the gap on AIME24). Requests without both labels are left out. A request whose tokens
/// all have difficulty 0 uses the offloaded token share instead.
///
/// A small-model draft that a larger tier verified before it was output (a SPECS step revealed by
/// the target's or the reward model's scoring) counts as the verifier's output with weight
/// ν = `accuracy.verified_draft_credit` (default 1): SPECS accepts a draft only when the target's
/// log-probabilities and the reward pass their thresholds, and reports accuracy at or above
/// target beam search (arXiv 2506.15733), so a verified step carries the target's quality. ν = 0
/// restores the old reading, where an accepted draft is small-model output.
///
/// The prediction is the mean of p; its 95% interval is the percentile bootstrap over requests
/// (`accuracy.bootstrap_samples` resamples, stream "bootstrap").
public enum AccuracyModel {
    public struct Prediction: Sendable {
        public var predicted: Double
        public var ci95: (Double, Double)
        public var labeled: Int
        public var smallOnly: Double
        public var largeOnly: Double

        package init(predicted: Double, ci95: (Double, Double), labeled: Int, smallOnly: Double, largeOnly: Double) {
            self.predicted = predicted
            self.ci95 = ci95
            self.labeled = labeled
            self.smallOnly = smallOnly
            self.largeOnly = largeOnly
        }
    }

    /// The weight w of one request given its offloaded token ranges.
    public static func weight(
        trace: Trace, request r: Int, segments: [Segment], exponent: Double, verifiedCredit: Double = 1
    ) -> Double {
        let range = trace.tokenRange(r)
        let total = trace.difficulty.powerSum(range, exponent: exponent)
        var pos = range.lowerBound
        var off = 0.0
        var offTokens = 0.0
        var silentRole = 0
        func output(_ n: Int, by role: Int) {
            if role != 0 {
                off += trace.difficulty.powerSum(pos..<(pos + n), exponent: exponent)
                offTokens += Double(n)
            }
            pos += n
        }
        for s in segments {
            // Silent tokens are decoded, not output, so not trace positions (trigger tokens,
            // speculative drafts) until a segment reveals them (an accepted SPECS step), as the
            // output of the role that decoded them.
            if s.silent { silentRole = s.role } else { output(s.tokens, by: s.role) }
            let reveal = s.end.reveal
            if reveal > 0 {
                if silentRole == 0 && s.role != 0 && verifiedCredit > 0 {
                    // A small draft verified by a larger tier: credited to the verifier, by ν.
                    off += verifiedCredit * trace.difficulty.powerSum(pos..<(pos + reveal), exponent: exponent)
                    offTokens += verifiedCredit * Double(reveal)
                }
                output(reveal, by: silentRole)
            }
        }
        if total > 0 { return min(1, off / total) }
        return range.isEmpty ? 0 : min(1, offTokens / Double(range.count))
    }

    public static func predict(
        trace: Trace, policy: any Policy, requests: [Int], spec: AccuracySpec, seed: UInt64
    ) -> Prediction? {
        predict(trace: trace, policy: policy, runs: requests.map { (request: $0, refused: []) }, spec: spec, seed: seed)
    }

    /// The prediction from the segments that ran: each run is a trace request and the indices, in
    /// its plan, of the offloaded segments an adaptive policy refused (they ran on the entry tier,
    /// role 0). A request served twice counts twice.
    public static func predict(
        trace: Trace, policy: any Policy, runs: [(request: Int, refused: [Int])], spec: AccuracySpec,
        seed: UInt64
    ) -> Prediction? {
        // Labels are the small and the large model's. A one-role deployment (`single`) runs one
        // model: the large labels when its tier is the large one, the small when the small one, and
        // none otherwise (the trace says nothing about a third model).
        let alone = policy.roles.count == 1 ? policy.roles[0] : nil
        if let alone, alone != "small" && alone != "large" { return nil }
        var p: [Double] = []
        var s: [Double] = []
        var l: [Double] = []
        var segs: [Segment] = []
        for (r, refused) in runs {
            guard let sc = trace.requests[r].smallCorrect, let lc = trace.requests[r].largeCorrect else { continue }
            segs.removeAll(keepingCapacity: true)
            policy.plan(trace: trace, request: r, into: &segs)
            for k in refused { segs[k].role = 0 }
            let w =
                alone.map { $0 == "large" ? 1 : 0 }
                ?? weight(
                    trace: trace, request: r, segments: segs, exponent: spec.difficultyExponent,
                    verifiedCredit: spec.verifiedDraftCredit)
            let a = sc ? 1.0 : 0.0
            let b = lc ? 1.0 : 0.0
            p.append(a + (b - a) * w)
            s.append(a)
            l.append(b)
        }
        guard !p.isEmpty else { return nil }
        let n = p.count
        let mean = p.reduce(0, +) / Double(n)
        let rng = RandomStream(seed: seed, name: "bootstrap")
        var means = [Double](repeating: 0, count: spec.bootstrapSamples)
        for b in 0..<spec.bootstrapSamples {
            var sum = 0.0
            for _ in 0..<n { sum += p[rng.int(below: n)] }
            means[b] = sum / Double(n)
        }
        means.sort()
        return Prediction(
            predicted: mean,
            ci95: (Statistics.quantile(sorted: means, 0.025), Statistics.quantile(sorted: means, 0.975)),
            labeled: n, smallOnly: s.reduce(0, +) / Double(n), largeOnly: l.reduce(0, +) / Double(n))
    }
}
