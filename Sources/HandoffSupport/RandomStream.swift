import CGSL

/// One seeded stream of random numbers, backed by a GSL generator (MT19937).
///
/// Every source of randomness in a run (arrivals, network delays, the synthetic trace, the
/// bootstrap) owns its own stream, derived from the scenario seed and the stream's name, so that
/// adding draws to one source never shifts the numbers another source sees.
public final class RandomStream {
    @usableFromInline let rng: UnsafeMutablePointer<gsl_rng>

    /// A stream seeded directly (the GSL seed is taken modulo 2³²).
    public init(seed: UInt64) {
        GSL.configure()
        rng = gsl_rng_alloc(handoff_rng_mt19937())
        gsl_rng_set(rng, UInt(truncatingIfNeeded: seed))
    }

    /// The stream called `name` for a run seeded with `seed`.
    public convenience init(seed: UInt64, name: String) {
        self.init(seed: RandomStream.derive(seed: seed, name: name))
    }

    deinit { gsl_rng_free(rng) }

    /// Seed for a named sub-stream: SplitMix64 over (seed XOR FNV-1a(name)).
    public static func derive(seed: UInt64, name: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var z = seed ^ h
        z = z &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        let r = z ^ (z >> 31)
        // MT19937 treats seed 0 as 4357; keep seeds non-zero and within 32 bits distinct.
        return (r & 0xFFFF_FFFF) | 1
    }

    /// Uniform on [0, 1).
    @inlinable public func uniform() -> Double { gsl_rng_uniform(rng) }
    /// Uniform on (0, 1).
    @inlinable public func uniformPositive() -> Double { gsl_rng_uniform_pos(rng) }
    /// Uniform integer in [0, n).
    @inlinable public func int(below n: Int) -> Int { Int(gsl_rng_uniform_int(rng, UInt(n))) }
    /// Exponential with the given mean.
    @inlinable public func exponential(mean: Double) -> Double { gsl_ran_exponential(rng, mean) }
    /// Gamma with shape k and scale θ (mean kθ).
    @inlinable public func gamma(shape: Double, scale: Double) -> Double { gsl_ran_gamma(rng, shape, scale) }
    /// Log-normal: exp(N(μ, σ²)).
    @inlinable public func lognormal(mu: Double, sigma: Double) -> Double { gsl_ran_lognormal(rng, mu, sigma) }
    /// Beta(a, b).
    @inlinable public func beta(_ a: Double, _ b: Double) -> Double { gsl_ran_beta(rng, a, b) }
    /// Geometric on {1, 2, …} with success probability p (mean 1/p).
    @inlinable public func geometric(p: Double) -> Int { Int(gsl_ran_geometric(rng, p)) }
    /// Standard normal (GSL ziggurat).
    @inlinable public func gaussian() -> Double { gsl_ran_gaussian_ziggurat(rng, 1) }
    /// Bernoulli(p).
    @inlinable public func bernoulli(_ p: Double) -> Bool { gsl_rng_uniform(rng) < p }
}

/// Process-wide GSL settings.
public enum GSL {
    /// GSL's default error handler aborts the process; Handoff checks return codes instead.
    public static func configure() { _ = gsl_set_error_handler_off() }

    /// The standard normal quantile (inverse CDF).
    public static func normalQuantile(_ p: Double) -> Double { gsl_cdf_ugaussian_Pinv(p) }

    /// The standard normal CDF Φ.
    public static func normalCDF(_ x: Double) -> Double { gsl_cdf_ugaussian_P(x) }
}
