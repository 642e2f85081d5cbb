import CGSL

/// Order statistics through GSL (`gsl_stats_quantile_from_sorted_data`: linear interpolation
/// between order statistics, the same definition as NumPy's default).
public enum Statistics {
    /// The mean and four percentiles; encoded in this key order (`SimulationSummary`'s latencies).
    public struct Summary: Codable, Sendable, Equatable {
        public var mean: Double, p50: Double, p90: Double, p95: Double, p99: Double

        public init(mean: Double, p50: Double, p90: Double, p95: Double, p99: Double) {
            (self.mean, self.p50, self.p90, self.p95, self.p99) = (mean, p50, p90, p95, p99)
        }
    }

    /// The exact (Clopper–Pearson) two-sided interval of a binomial proportion, k successes in n
    /// trials, at `level`: the Beta quantiles of GSL. Conservative: covers at least `level`.
    public static func clopperPearson(_ k: Int, _ n: Int, level: Double = 0.95) -> (Double, Double) {
        guard n > 0 else { return (0, 1) }
        let a = (1 - level) / 2
        let lo = k == 0 ? 0 : gsl_cdf_beta_Pinv(a, Double(k), Double(n - k + 1))
        let hi = k == n ? 1 : gsl_cdf_beta_Pinv(1 - a, Double(k + 1), Double(n - k))
        return (lo, hi)
    }

    /// The arithmetic mean, summed in order (NaN when empty). O(n).
    public static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    /// The median (the mean of the two middle values for an even count). O(n log n).
    public static func median(_ xs: [Double]) -> Double { quantile(sorted: xs.sorted(), 0.5) }

    /// Quantile `p` ∈ [0, 1] of already sorted data. O(1).
    public static func quantile(sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted.withUnsafeBufferPointer { gsl_stats_quantile_from_sorted_data($0.baseAddress, 1, $0.count, p) }
    }

    /// Mean and percentiles. O(n log n).
    public static func summary(_ values: [Double]) -> Summary {
        guard !values.isEmpty else { return Summary(mean: .nan, p50: .nan, p90: .nan, p95: .nan, p99: .nan) }
        var v = values
        v.withUnsafeMutableBufferPointer { gsl_sort($0.baseAddress, 1, $0.count) }
        let mean = v.withUnsafeBufferPointer { gsl_stats_mean($0.baseAddress, 1, $0.count) }
        return Summary(
            mean: mean, p50: quantile(sorted: v, 0.5), p90: quantile(sorted: v, 0.9),
            p95: quantile(sorted: v, 0.95), p99: quantile(sorted: v, 0.99))
    }
}
