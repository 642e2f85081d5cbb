import Foundation
import HandoffSupport

/// A distribution of a positive quantity given in a scenario, e.g. `rtt_ms`.
///
/// YAML: a plain number (constant), or a section with `distribution` and its parameters:
/// - `constant`: `value`;
/// - `lognormal`: `median` and either `sigma` (of the log) or `p99` (σ = ln(p99/median)/z₀.₉₉);
/// - `gamma`: `mean` and `cv` (coefficient of variation; shape 1/cv², scale mean·cv²);
/// - `exponential`: `mean`.
public enum Distribution: Sendable, Equatable {
    case constant(Double)
    case lognormal(median: Double, sigma: Double)
    case gamma(mean: Double, cv: Double)
    case exponential(mean: Double)

    public var mean: Double {
        switch self {
        case .constant(let v): return v
        case .lognormal(let m, let s): return m * exp(s * s / 2)
        case .gamma(let m, _): return m
        case .exponential(let m): return m
        }
    }

    @inlinable public func sample(_ rng: RandomStream) -> Double {
        switch self {
        case .constant(let v): return v
        case .lognormal(let m, let s): return s == 0 ? m : rng.lognormal(mu: log(m), sigma: s)
        case .gamma(let m, let cv): return cv == 0 ? m : rng.gamma(shape: 1 / (cv * cv), scale: m * cv * cv)
        case .exponential(let m): return rng.exponential(mean: m)
        }
    }

    static func read(_ r: ConfigReader, _ key: String, default d: Distribution?) throws -> Distribution {
        guard let n = r.node[key] else {
            guard let d else { throw r.missing(key) }
            return d
        }
        if n.scalar != nil { return .constant(try r.double(key, min: 0)) }
        guard let s = try r.section(key) else { return d! }
        let kind = try s.string(
            "distribution", default: "constant", oneOf: ["constant", "lognormal", "gamma", "exponential"])
        let out: Distribution
        switch kind {
        case "lognormal":
            let median = try s.double("median", min: 0, exclusiveMin: true)
            if s.has("p99") {
                let p99 = try s.double("p99", min: median)
                out = .lognormal(median: median, sigma: log(p99 / median) / GSL.normalQuantile(0.99))
            } else {
                out = .lognormal(median: median, sigma: try s.double("sigma", default: 0, min: 0, max: 10))
            }
        case "gamma":
            out = .gamma(
                mean: try s.double("mean", min: 0, exclusiveMin: true),
                cv: try s.double("cv", default: 1, min: 0, max: 100))
        case "exponential": out = .exponential(mean: try s.double("mean", min: 0, exclusiveMin: true))
        default: out = .constant(try s.double("value", min: 0))
        }
        try s.finish()
        return out
    }
}
