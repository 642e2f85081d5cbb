import Foundation
import HandoffSupport

/// What changes after a handoff, for `splitreason` run live (docs/closed-loop.md).
///
/// A recorded small-only trace says what the small model writes when nothing interrupts it. Run
/// live, the stream is identical up to the first token whose difficulty exceeds τ (greedy
/// decoding is deterministic), and diverges after it: the large model writes `L` tokens, the
/// small model resumes on text it did not write, and crosses τ again much sooner than its own
/// trace suggests. Per request r with recorded length n_s, large-only length n_l, first crossing
/// c (the first trace token with d > τ; none: the request stays small-only, exactly):
///
/// - **Crossing rate after a handoff:** q' = min(1, κ · q(τ) + ε) per kept small token, q(τ) the
///   share of the trace's tokens with d > τ, ε a floor: the small model resuming on the large
///   model's text is uncertain at some rate whatever τ is. The small run before the next crossing is geometric,
///   E[K] = (1 − q')/q'; the long-run large share is ω = L / (L + E[K]).
/// - **Output length:** n_h = min(cap, c + λ · max(0, (1 − ω)(n_s − c) + ω(n_l − c))): the rest of
///   the answer interpolates between the two models' remaining lengths by share, scaled by λ.
/// - **Offload:** the first crossing starts a segment, so of the mixed part M = n_h − c the large
///   model writes min(M, L) + ω·max(0, M − L) tokens, a share ω_r of M; large calls ⌈that/L⌉;
///   handoffs 2·calls − ω_r.
/// - **Accuracy:** p = s + (l − s)·ω_r^γ for a request that crosses, s for one that does not.
///
/// κ, ε, λ and γ are fitted (`ClosedLoopFit`) on measured runs at some thresholds and checked at
/// others. κ = 1, ε = 0, λ = 1, γ = 1 is the model with no fitted change: the trace's own crossing rate.
public struct ClosedLoopModel: Sendable, Hashable {
    public var crossingFactor: Double
    public var crossingFloor: Double = 0
    public var lengthResponse: Double
    public var accuracyExponent: Double
    /// The output cap the runs used (`record` and `validate --max-tokens`).
    public var maxTokens: Int
    /// What the fit saw, for the file's readers.
    public var fittedOn: String

    public init(
        crossingFactor: Double = 1, lengthResponse: Double = 1, accuracyExponent: Double = 1, maxTokens: Int = 256,
        fittedOn: String = ""
    ) {
        self.crossingFactor = crossingFactor
        self.lengthResponse = lengthResponse
        self.accuracyExponent = accuracyExponent
        self.maxTokens = maxTokens
        self.fittedOn = fittedOn
    }

    /// Reads a model file (`handoff closed-loop` writes `closed-loop-model.yaml`).
    public static func load(path: String) throws -> ClosedLoopModel {
        let node = try ConfigNode.parse(yaml: String(decoding: try FileIO.read(path), as: UTF8.self), origin: path)
        let r = ConfigReader(node)
        var m = ClosedLoopModel(
            crossingFactor: try r.double("crossing_factor", min: 0),
            lengthResponse: try r.double("length_response", min: 0, exclusiveMin: true),
            accuracyExponent: try r.double("accuracy_exponent", min: 0, exclusiveMin: true),
            maxTokens: try r.int("max_tokens", min: 1), fittedOn: try r.string("fitted_on", default: ""))
        m.crossingFloor = try r.double("crossing_floor", default: 0, min: 0, max: 1)
        try r.finish()
        return m
    }

    /// The predicted trajectory of one request.
    public struct Trajectory: Sendable, Equatable {
        /// Kept small tokens before the first crossing (the whole request when it never crosses).
        public var prefix: Int
        public var crosses: Bool
        public var outputTokens: Double
        public var largeTokens: Double
        public var largeCalls: Double
        public var handoffs: Double
        /// Large share ω_r of the part after the first crossing.
        public var mixShare: Double
        /// Small tokens between two large segments, E[K].
        public var smallRun: Double
    }

    /// q(τ): share of the trace's tokens with difficulty above τ. O(tokens).
    public static func crossingRate(trace: Trace, threshold: Double) -> Double {
        let n = trace.difficulty.count
        guard n > 0 else { return 0 }
        let t = Float(threshold)
        var above = 0
        for i in 0..<n where trace.difficulty[i] > t { above += 1 }
        return Double(above) / Double(n)
    }

    /// Request r's trajectory at threshold τ, segments of `segment` tokens, given q(τ).
    public func trajectory(trace: Trace, request r: Int, threshold: Double, segment: Int, rate q: Double) -> Trajectory
    {
        let range = trace.tokenRange(r)
        let ns = range.count
        guard let hard = trace.difficulty.firstIndex(in: range, above: Float(threshold)) else {
            return Trajectory(
                prefix: ns, crosses: false, outputTokens: Double(ns), largeTokens: 0, largeCalls: 0, handoffs: 0,
                mixShare: 0, smallRun: 0)
        }
        let c = hard - range.lowerBound
        let qq = min(1, max(1e-9, crossingFactor * q + crossingFloor))
        let k = (1 - qq) / qq
        let l = Double(segment)
        let w = l / (l + k)
        let nl = Double(trace.requests[r].largeOutputTokens ?? ns)
        let rest = max(0, (1 - w) * Double(ns - c) + w * (nl - Double(c)))
        let nh = min(Double(maxTokens), Double(c) + lengthResponse * rest)
        let mixed = max(0, nh - Double(c))
        // The first crossing starts a segment; the rest alternates at the long-run share ω.
        let large = min(mixed, l) + w * max(0, mixed - l)
        let share = mixed > 0 ? large / mixed : w
        let calls = max(1, (large / l).rounded(.up))
        return Trajectory(
            prefix: c, crosses: true, outputTokens: max(Double(c), nh), largeTokens: large, largeCalls: calls,
            handoffs: max(1, 2 * calls - share), mixShare: share, smallRun: k)
    }

    /// P(correct) of a request with labels (s, l) and this trajectory.
    public func pCorrect(small s: Bool, large l: Bool, _ t: Trajectory) -> Double {
        let a = s ? 1.0 : 0.0
        let b = l ? 1.0 : 0.0
        guard t.crosses else { return a }
        return a + (b - a) * pow(t.mixShare, accuracyExponent)
    }

    /// One realised stream the trajectory implies, for the simulator's replay policy (splitreason,
    /// min = max = `segment`, one trigger token): the trace's first `prefix` difficulties, then
    /// alternating large segments (difficulty 1) and small runs (difficulty 0) up to round(n_h)
    /// tokens. Each small run K is drawn geometric with this request's crossing rate, so its mean is
    /// E[K] = (1 − q′)/q′ and its large share ω on average. Live, the runs between crossings are
    /// roughly geometric (with more immediate re-crossings) and the large share differs widely from
    /// request to request (docs/closed-loop.md, "What the journals show"); one mean stream gives every
    /// request the same evenly spaced handoffs, and its percentiles are not the distribution's.
    /// Seeded: `rng` decides every draw.
    public func stream(trace: Trace, request r: Int, segment: Int, _ t: Trajectory, rng: RandomStream) -> [Float] {
        let range = trace.tokenRange(r)
        var out: [Float] = []
        let total = Int(t.outputTokens.rounded())
        out.reserveCapacity(total)
        for i in range.lowerBound..<(range.lowerBound + min(t.prefix, total)) { out.append(trace.difficulty[i]) }
        guard t.crosses else { return out }
        let q = 1 / (1 + t.smallRun)
        while out.count < total {
            for _ in 0..<min(segment, total - out.count) { out.append(1) }
            // GSL's geometric counts trials up to the first crossing: K = trials − 1 kept small tokens.
            let run = q >= 1 ? 0 : rng.geometric(p: q) - 1
            for _ in 0..<min(run, total - out.count) { out.append(0) }
        }
        return out
    }
}

/// Aggregate predictions of a closed-loop model over requests.
public struct ClosedLoopPrediction: Sendable {
    public var requests: Int
    public var offloadTokenFraction: Double
    public var handoffsPerRequest: Double
    public var outputTokensPerRequest: Double
    public var accuracy: Double?
    /// 95% prediction interval of the accuracy measured on these requests: the 2.5% and 97.5%
    /// quantiles of the Poisson–binomial distribution of Σ Bernoulli(p_r) / n.
    public var accuracyCI95: (Double, Double)?
    public var trajectories: [ClosedLoopModel.Trajectory]
    public var pCorrect: [Double?]

    public static func make(
        _ m: ClosedLoopModel, trace: Trace, requests: [Int], threshold: Double, segment: Int
    ) -> ClosedLoopPrediction {
        let q = ClosedLoopModel.crossingRate(trace: trace, threshold: threshold)
        var ts: [ClosedLoopModel.Trajectory] = []
        var ps: [Double?] = []
        for r in requests {
            let t = m.trajectory(trace: trace, request: r, threshold: threshold, segment: segment, rate: q)
            ts.append(t)
            let req = trace.requests[r]
            if let s = req.smallCorrect, let l = req.largeCorrect {
                ps.append(m.pCorrect(small: s, large: l, t))
            } else {
                ps.append(nil)
            }
        }
        let out = ts.reduce(0) { $0 + $1.outputTokens }
        let large = ts.reduce(0) { $0 + $1.largeTokens }
        let n = Double(max(1, ts.count))
        let judged = ps.compactMap { $0 }
        var acc: Double?
        var ci: (Double, Double)?
        if !judged.isEmpty {
            acc = judged.reduce(0, +) / Double(judged.count)
            ci = poissonBinomialInterval(judged, level: 0.95)
        }
        return ClosedLoopPrediction(
            requests: ts.count, offloadTokenFraction: out > 0 ? large / out : 0,
            handoffsPerRequest: ts.reduce(0) { $0 + $1.handoffs } / n,
            outputTokensPerRequest: out / n, accuracy: acc, accuracyCI95: ci, trajectories: ts, pCorrect: ps)
    }

    /// One sampled stream per request (`ClosedLoopModel.stream`), as a trace of the same requests in
    /// the same order (`measured` dropped). Every request draws from its own stream, named by its
    /// position, of the seed: adding a request never moves another's draws.
    public func sampledStreams(
        _ m: ClosedLoopModel, trace: Trace, requests: [Int], segment: Int, seed: UInt64
    ) -> Trace {
        var b = TraceBuilder()
        for (k, r) in requests.enumerated() {
            var req = trace.requests[r]
            req.measured = nil
            let rng = RandomStream(seed: seed, name: "closed-loop-stream-\(k)")
            b.append(req, difficulty: m.stream(trace: trace, request: r, segment: segment, trajectories[k], rng: rng))
        }
        return b.build()
    }

    /// Central interval of (Σ Bernoulli(p_i)) / n at `level`, by the exact O(n²) recursion over
    /// the Poisson–binomial probabilities.
    public static func poissonBinomialInterval(_ p: [Double], level: Double) -> (Double, Double) {
        var dist = [1.0]
        for x in p {
            var next = [Double](repeating: 0, count: dist.count + 1)
            for (k, v) in dist.enumerated() {
                next[k] += v * (1 - x)
                next[k + 1] += v * x
            }
            dist = next
        }
        let lo = (1 - level) / 2
        let hi = 1 - lo
        var cum = 0.0
        var a = 0
        var b = p.count
        var foundLo = false
        for (k, v) in dist.enumerated() {
            cum += v
            if !foundLo && cum >= lo - 1e-12 {
                a = k
                foundLo = true
            }
            if cum >= hi - 1e-12 {
                b = k
                break
            }
        }
        let n = Double(max(1, p.count))
        return (Double(a) / n, Double(b) / n)
    }
}
