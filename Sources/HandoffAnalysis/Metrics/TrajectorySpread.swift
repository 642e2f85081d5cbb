import Foundation
import HandoffSupport

/// How the trajectories of `splitreason` run live spread from request to request
/// (docs/closed-loop.md, "What the journals show"), measured on streams in the replay convention:
/// a large token has difficulty exactly 1, and a large segment starts at its trigger, the small
/// token above τ just before a run of 1s (live streams) or the segment's first 1 (the model's
/// sampled streams), of at most `segment` tokens. The same code reads the live journals and the model's streams, so the two
/// sit side by side.
///
/// Per request that crosses τ (first crossing at c, n tokens):
/// - the **segment share** after the first crossing: segment tokens / (n − c);
/// - the **small runs** K between two segments (the last run, cut off by the answer's end, is
///   censored: it counts in the crossing rate's exposure, not among the runs);
/// - the **crossing rate** after the first segment, censoring-aware: segments after the first over
///   those segments plus the small tokens after it (the geometric law's maximum likelihood); and
///   Pearson's X² per degree of freedom of the per-request crossing
///   counts against that pooled rate (1 when every request crosses at the same rate; the
///   overdispersion a Beta-distributed rate adds);
/// - the segment lengths, and where the first crossing falls (c / n).
public struct TrajectorySpread: Sendable, Equatable {
    public var requests = 0
    public var crossed = 0
    /// Segment share after the first crossing: p10, p50, p90, and its standard deviation.
    public var share: [Double] = []
    public var shareSD = 0.0
    public var runs = 0
    public var runMean = 0.0
    public var runSD = 0.0
    /// A geometric law's standard deviation at `runMean`: √(E[K](1 + E[K])).
    public var geometricSD = 0.0
    /// Share of the small runs of at most 1 token (an immediate re-crossing).
    public var shortRuns = 0.0
    public var crossingRate = 0.0
    public var dispersion = 0.0
    public var segmentMean = 0.0
    public var firstCrossingP50 = 0.0

    public init() {}

    /// Measures `streams` at threshold τ.
    public init(streams: [[Float]], threshold tau: Double, segment: Int) {
        requests = streams.count
        let t = Float(tau)
        var shares: [Double] = []
        var small: [Double] = []
        var segments: [Double] = []
        var first: [Double] = []
        var counts: [(m: Double, e: Double)] = []
        for st in streams {
            guard let c = st.firstIndex(where: { $0 > t }) else { continue }
            let runs = Self.runs(Array(st[c...]), threshold: t, segment: segment)
            guard runs.first?.large == true else { continue }
            let seg = runs.filter(\.large)
            let inSegments = seg.reduce(0) { $0 + $1.count }
            shares.append(Double(inSegments) / Double(st.count - c))
            segments += seg.map { Double($0.count) }
            first.append(Double(c) / Double(st.count))
            // Small runs between segments; the last one is censored when the answer ends on it.
            let between = runs.dropFirst().enumerated().filter { !$0.element.large }
            small += between.filter { $0.offset + 2 < runs.count }.map { Double($0.element.count) }
            counts.append((Double(seg.count - 1), Double(between.reduce(0) { $0 + $1.element.count })))
        }
        crossed = shares.count
        guard crossed > 0 else { return }
        share = [0.1, 0.5, 0.9].map { Statistics.quantile(sorted: shares.sorted(), $0) }
        shareSD = Self.sd(shares)
        runs = small.count
        if !small.isEmpty {
            runMean = Statistics.mean(small)
            runSD = Self.sd(small)
            geometricSD = (runMean * (1 + runMean)).squareRoot()
            shortRuns = Double(small.filter { $0 <= 1 }.count) / Double(small.count)
        }
        segmentMean = Statistics.mean(segments)
        firstCrossingP50 = Statistics.quantile(sorted: first.sorted(), 0.5)
        // Trials: every kept small token after the first segment, and every crossing.
        let trials = counts.map { (m: $0.m, n: $0.m + $0.e) }.filter { $0.n > 0 }
        let q = trials.reduce(0) { $0 + $1.m } / max(1, trials.reduce(0) { $0 + $1.n })
        crossingRate = q
        if trials.count >= 2, q > 0, q < 1 {
            let x2 = trials.reduce(0) { $0 + ($1.m - $1.n * q) * ($1.m - $1.n * q) / ($1.n * q * (1 - q)) }
            dispersion = x2 / Double(trials.count - 1)
        }
    }

    /// The stream from its first crossing on, alternating segment and small run (a segment first):
    /// a segment is a trigger (a token above τ just before a 1) with the 1s that follow it, or
    /// `segment` 1s; back-to-back segments have a small run of 0 between them.
    static func runs(_ st: [Float], threshold t: Float, segment: Int) -> [(large: Bool, count: Int)] {
        var out: [(large: Bool, count: Int)] = []
        func open(_ large: Bool) {
            if let last = out.last, last.large == large { out.append((!large, 0)) }
            out.append((large, 1))
        }
        for (i, x) in st.enumerated() {
            let trigger = x > t && x < 1 && i + 1 < st.count && st[i + 1] == 1
            if trigger || (x == 1 && (out.last.map { !$0.large || $0.count >= segment } ?? true)) {
                open(true)
            } else if x == 1 || (out.last.map { !$0.large } ?? false) {
                out[out.count - 1].count += 1
            } else {
                open(false)
            }
        }
        return out
    }

    static func sd(_ xs: [Double]) -> Double {
        guard xs.count > 1 else { return 0 }
        let m = Statistics.mean(xs)
        return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
    }

    public var json: JSONValue {
        .object([
            ("requests", .number(Double(requests))), ("crossed", .number(Double(crossed))),
            ("segment_share_p10_p50_p90", .numbers(share)), ("segment_share_sd", .number(shareSD)),
            ("small_runs", .number(Double(runs))), ("small_run_mean", .number(runMean)),
            ("small_run_sd", .number(runSD)), ("small_run_geometric_sd", .number(geometricSD)),
            ("small_runs_at_most_1", .number(shortRuns)), ("crossing_rate", .number(crossingRate)),
            ("crossing_dispersion_x2_per_df", .number(dispersion)), ("segment_mean", .number(segmentMean)),
            ("first_crossing_position_p50", .number(firstCrossingP50))
        ])
    }
}
