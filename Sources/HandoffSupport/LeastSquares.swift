import CGSL

/// Weighted linear least squares through GSL (`gsl_multifit_wlinear`, QR/SVD based; GSL reference
/// manual §41 "Linear Least-Squares Fitting"), with non-negativity by elimination: a coefficient
/// that comes out negative is fixed at 0 and the rest refitted (an active-set pass, at most one
/// per column). O(rows · columns²) per pass.
public enum LeastSquares {
    public struct Fit: Sendable {
        public var coefficients: [Double]
        public var fitted: [Double]
        public var chiSquared: Double
    }

    public static func fit(rows x: [[Double]], y: [Double], weights w: [Double], nonNegative: Bool = true) throws -> Fit
    {
        let n = y.count
        let p = x.first?.count ?? 0
        guard n > 0, p > 0, x.count == n, w.count == n else {
            throw HandoffError("least squares: empty or ragged design", exitCode: 1)
        }
        var active = [Bool](repeating: true, count: p)
        while true {
            let cols = (0..<p).filter { active[$0] }
            guard !cols.isEmpty else {
                return Fit(
                    coefficients: [Double](repeating: 0, count: p), fitted: [Double](repeating: 0, count: n),
                    chiSquared: 0)
            }
            guard n >= cols.count else {
                throw HandoffError(
                    "least squares: \(n) probes cannot fit \(cols.count) coefficients; add probes", exitCode: 1)
            }
            let X = gsl_matrix_alloc(n, cols.count)!
            let Y = gsl_vector_alloc(n)!
            let W = gsl_vector_alloc(n)!
            let c = gsl_vector_alloc(cols.count)!
            let cov = gsl_matrix_alloc(cols.count, cols.count)!
            let work = gsl_multifit_linear_alloc(n, cols.count)!
            defer {
                gsl_matrix_free(X)
                gsl_vector_free(Y)
                gsl_vector_free(W)
                gsl_vector_free(c)
                gsl_matrix_free(cov)
                gsl_multifit_linear_free(work)
            }
            for i in 0..<n {
                for (k, j) in cols.enumerated() { gsl_matrix_set(X, i, k, x[i][j]) }
                gsl_vector_set(Y, i, y[i])
                gsl_vector_set(W, i, w[i])
            }
            var chisq = 0.0
            let status = gsl_multifit_wlinear(X, W, Y, c, cov, &chisq, work)
            guard status == 0 else {
                throw HandoffError("least squares failed: \(String(cString: gsl_strerror(status)))", exitCode: 1)
            }
            var coef = [Double](repeating: 0, count: p)
            for (k, j) in cols.enumerated() { coef[j] = gsl_vector_get(c, k) }
            if nonNegative, let worst = cols.min(by: { coef[$0] < coef[$1] }), coef[worst] < 0 {
                active[worst] = false
                continue
            }
            let fitted = x.map { row in zip(row, coef).reduce(0) { $0 + $1.0 * $1.1 } }
            return Fit(coefficients: coef, fitted: fitted, chiSquared: chisq)
        }
    }
}
