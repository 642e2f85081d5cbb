import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// Fits a `ClosedLoopModel` to live runs (docs/closed-loop.md), on the requests of the runs at
/// the fitting thresholds only, leaving out held-out prompts (`held_out` in the trace):
///
/// - κ and ε by GSL least squares (non-negative) of the measured post-handoff crossing rate
///   q̂′ = Σ crossings after the first / (Σ those crossings + Σ small tokens after the first
///   crossing) (the geometric law's censoring-aware maximum likelihood) on [q(τ), 1], one row per
///   run weighted by its trials (crossings + small tokens).
///   With one run, ε = 0 and κ alone is fitted;
/// - λ by GSL least squares through the origin: (n − c) = λ · base, base = (1 − ω)(n_s − c) + ω(n_l − c);
/// - γ by Brent on the negative log-likelihood of the measured outcomes under
///   p = s + (l − s)·ω^γ (only requests with s ≠ l carry information; none leaves γ = 1).
public enum ClosedLoopFit {
    /// One measured request of a live run.
    public struct Observation: Sendable {
        public var request: Int
        public var outputTokens: Int
        public var largeTokens: Int
        public var correct: Bool?
        public init(request: Int, outputTokens: Int, largeTokens: Int, correct: Bool?) {
            self.request = request
            self.outputTokens = outputTokens
            self.largeTokens = largeTokens
            self.correct = correct
        }
    }

    public struct Run: Sendable {
        public var threshold: Double
        public var segment: Int
        public var observations: [Observation]
        public init(threshold: Double, segment: Int, observations: [Observation]) {
            self.threshold = threshold
            self.segment = segment
            self.observations = observations
        }
    }

    public static func fit(trace: Trace, runs given: [Run], maxTokens: Int) throws -> ClosedLoopModel {
        let runs = given.map { run in
            Run(
                threshold: run.threshold, segment: run.segment,
                observations: run.observations.filter { !trace.requests[$0.request].heldOut })
        }
        var m = ClosedLoopModel(maxTokens: maxTokens)
        try fitCrossing(&m, trace: trace, runs: runs)
        try fitLengthResponse(&m, trace: trace, runs: runs, maxTokens: maxTokens)
        try fitAccuracyExponent(&m, trace: trace, runs: runs)
        let thresholds = Set(runs.map(\.threshold)).sorted().map { JSONWriter.number($0) }.joined(separator: ", ")
        let heldOut = given.reduce(0) { $0 + $1.observations.count } - runs.reduce(0) { $0 + $1.observations.count }
        m.fittedOn =
            "\(runs.reduce(0) { $0 + $1.observations.count }) live requests at thresholds \(thresholds) (\(heldOut) of held-out prompts left out)"
        return m
    }

    /// κ and ε: the post-handoff crossing rate against the trace's. Per run, over its requests that
    /// crossed: q̂′ = Σ m / (Σ m + Σ e), m the crossings after the first (⌈large/L⌉ − 1 segments) and
    /// e the kept small tokens after the first crossing (output − c − large): the geometric law's
    /// maximum-likelihood estimate (each small token is followed by a crossing with probability q′),
    /// censoring-aware (a request's last small run counts in e without a crossing).
    static func fitCrossing(_ m: inout ClosedLoopModel, trace: Trace, runs: [Run]) throws {
        var qRows: [[Double]] = []
        var qY: [Double] = []
        var qW: [Double] = []
        for run in runs {
            var crossings = 0.0
            var exposure = 0.0
            for o in run.observations where o.largeTokens > 0 {
                let range = trace.tokenRange(o.request)
                guard let hard = trace.difficulty.firstIndex(in: range, above: Float(run.threshold)) else { continue }
                crossings += (Double(o.largeTokens) / Double(run.segment)).rounded(.up) - 1
                exposure += Double(max(0, o.outputTokens - (hard - range.lowerBound) - o.largeTokens))
            }
            guard exposure > 0 else { continue }
            qRows.append([ClosedLoopModel.crossingRate(trace: trace, threshold: run.threshold), 1])
            qY.append(crossings / (crossings + exposure))
            qW.append(crossings + exposure)
        }
        if qRows.count >= 2 {
            let c = try LeastSquares.fit(rows: qRows, y: qY, weights: qW).coefficients
            m.crossingFactor = c[0]
            m.crossingFloor = c[1]
            if m.crossingFactor == 0 && m.crossingFloor == 0 { m.crossingFactor = 1 }
        } else if let x = qRows.first, x[0] > 0, qY[0] > 0 {
            m.crossingFactor = qY[0] / x[0]
        }
    }

    /// λ: the mixed parts' measured lengths against the model's at λ = 1.
    static func fitLengthResponse(_ m: inout ClosedLoopModel, trace: Trace, runs: [Run], maxTokens: Int) throws {
        var rows: [[Double]] = []
        var y: [Double] = []
        for run in runs {
            let q = ClosedLoopModel.crossingRate(trace: trace, threshold: run.threshold)
            var unit = m
            unit.lengthResponse = 1
            unit.maxTokens = Int.max / 4
            for o in run.observations where o.outputTokens < maxTokens {
                let t = unit.trajectory(
                    trace: trace, request: o.request, threshold: run.threshold, segment: run.segment, rate: q)
                guard t.crosses else { continue }
                let base = t.outputTokens - Double(t.prefix)
                guard base > 0 else { continue }
                rows.append([base])
                y.append(Double(o.outputTokens - t.prefix))
            }
        }
        if !rows.isEmpty {
            m.lengthResponse = try LeastSquares.fit(rows: rows, y: y, weights: [Double](repeating: 1, count: y.count))
                .coefficients[0]
            if m.lengthResponse <= 0 { m.lengthResponse = 1 }
        }
    }

    /// γ: maximum likelihood over the outcomes of crossing requests whose labels differ.
    static func fitAccuracyExponent(_ m: inout ClosedLoopModel, trace: Trace, runs: [Run]) throws {
        var informative: [(w: Double, s: Bool, correct: Bool)] = []
        for run in runs {
            let q = ClosedLoopModel.crossingRate(trace: trace, threshold: run.threshold)
            for o in run.observations {
                let req = trace.requests[o.request]
                guard let s = req.smallCorrect, let l = req.largeCorrect, s != l, let y = o.correct else { continue }
                let t = m.trajectory(
                    trace: trace, request: o.request, threshold: run.threshold, segment: run.segment, rate: q)
                guard t.crosses else { continue }
                informative.append((t.mixShare, s, y))
            }
        }
        if !informative.isEmpty {
            func nll(_ logG: Double) -> Double {
                informative.reduce(0) { acc, x in
                    let f = pow(x.w, exp(logG))
                    let p = min(1 - 1e-6, max(1e-6, x.s ? 1 - f : f))
                    return acc - log(x.correct ? p : 1 - p)
                }
            }
            m.accuracyExponent = exp(try minimise(nll, lo: log(0.02), hi: log(50)))
        }
    }

    /// Minimum of f on [lo, hi]: a 41-point grid scan, then GSL Brent inside the bracket around the
    /// best grid point (the grid point itself at an end of the range).
    static func minimise(_ f: @escaping (Double) -> Double, lo: Double, hi: Double) throws -> Double {
        let n = 40
        let xs = (0...n).map { lo + (hi - lo) * Double($0) / Double(n) }
        let fs = xs.map(f)
        let k = fs.indices.min { fs[$0] < fs[$1] }!
        guard k > 0, k < n, fs[k] < fs[k - 1], fs[k] < fs[k + 1] else { return xs[k] }
        return try Brent.minimum(in: xs[k - 1], xs[k], xs[k + 1], xtol: 1e-4) { f($0) }
    }
}
