import CGSL
import Foundation

/// One-dimensional root finding and minimisation with GSL's Brent solvers
/// (`gsl_root_fsolver_brent`, `gsl_min_fminimizer_brent`; GSL reference manual, "One Dimensional
/// Root-Finding" and "One Dimensional Minimization"). The function is a Swift closure passed to C
/// through the `params` pointer. Each iteration costs one evaluation: a simulation, for the tuner.
public enum Brent {
    final class Box {
        let f: (Double) throws -> Double
        var error: Error?
        init(_ f: @escaping (Double) throws -> Double) { self.f = f }
    }

    static let trampoline: @convention(c) (Double, UnsafeMutableRawPointer?) -> Double = { x, p in
        let box = Unmanaged<Box>.fromOpaque(p!).takeUnretainedValue()
        if box.error != nil { return .nan }
        do { return try box.f(x) } catch {
            box.error = error
            return .nan
        }
    }

    /// A root of `f` in [lo, hi], where f(lo) and f(hi) have opposite signs (or one is 0), to an
    /// interval width of `xtol`. Returns the final bracket: for a step function (such as the
    /// offload share against the threshold) the root is the step, and the bracket's two ends lie
    /// on either side of it. O(log((hi − lo)/xtol)) evaluations, at most `maxIterations`.
    public static func root(
        in lo: Double, _ hi: Double, xtol: Double, maxIterations: Int = 100,
        _ f: @escaping (Double) throws -> Double
    ) throws -> (lower: Double, upper: Double) {
        GSL.configure()
        let box = Box(f)
        let solver = gsl_root_fsolver_alloc(handoff_root_brent())!
        defer { gsl_root_fsolver_free(solver) }
        var fn = gsl_function(function: trampoline, params: Unmanaged.passUnretained(box).toOpaque())
        let status = withExtendedLifetime(box) { gsl_root_fsolver_set(solver, &fn, lo, hi) }
        if let e = box.error { throw e }
        guard status == GSL_SUCCESS else {
            throw HandoffError.input("GSL root bracket [\(lo), \(hi)]: \(String(cString: gsl_strerror(status)))")
        }
        for _ in 0..<maxIterations {
            let st = withExtendedLifetime(box) { gsl_root_fsolver_iterate(solver) }
            if let e = box.error { throw e }
            if st != GSL_SUCCESS { break }
            let a = gsl_root_fsolver_x_lower(solver)
            let b = gsl_root_fsolver_x_upper(solver)
            if gsl_root_test_interval(a, b, xtol, 0) == GSL_SUCCESS { break }
        }
        return (gsl_root_fsolver_x_lower(solver), gsl_root_fsolver_x_upper(solver))
    }

    /// A local minimum of `f` in [lo, hi] starting from `guess`, which must satisfy
    /// f(guess) < f(lo) and f(guess) < f(hi) (GSL's precondition); to an interval width of `xtol`.
    public static func minimum(
        in lo: Double, _ guess: Double, _ hi: Double, xtol: Double, maxIterations: Int = 100,
        _ f: @escaping (Double) throws -> Double
    ) throws -> Double {
        GSL.configure()
        let box = Box(f)
        let m = gsl_min_fminimizer_alloc(handoff_min_brent())!
        defer { gsl_min_fminimizer_free(m) }
        var fn = gsl_function(function: trampoline, params: Unmanaged.passUnretained(box).toOpaque())
        let status = withExtendedLifetime(box) { gsl_min_fminimizer_set(m, &fn, guess, lo, hi) }
        if let e = box.error { throw e }
        guard status == GSL_SUCCESS else {
            throw HandoffError.input(
                "GSL minimum bracket (\(lo), \(guess), \(hi)): \(String(cString: gsl_strerror(status)))")
        }
        for _ in 0..<maxIterations {
            let st = withExtendedLifetime(box) { gsl_min_fminimizer_iterate(m) }
            if let e = box.error { throw e }
            if st != GSL_SUCCESS { break }
            if gsl_min_test_interval(gsl_min_fminimizer_x_lower(m), gsl_min_fminimizer_x_upper(m), xtol, 0)
                == GSL_SUCCESS
            {
                break
            }
        }
        return gsl_min_fminimizer_x_minimum(m)
    }
}
