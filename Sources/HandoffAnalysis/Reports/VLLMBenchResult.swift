import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// A simulation written as `vllm bench serve --save-result` writes a run (vLLM's
/// `benchmarks/serve.py`, with `--percentile-metrics ttft,tpot,itl,e2el --metric-percentiles
/// 50,90,99`), so a prediction and a measurement load with the same script.
///
/// - Aggregates: `completed`, `failed`, `duration` (s), `total_input_tokens`,
///   `total_output_tokens`, `request_throughput`, `output_throughput`, `total_token_throughput`,
///   and `{mean,median,std,p50,p90,p99}_{ttft,tpot,itl,e2el}_ms`, over completed requests as vLLM
///   takes them: TPOT per request (E2EL − TTFT) / (output − 1) for outputs of two or more tokens,
///   std the population one (NumPy's default), percentiles by linear interpolation.
/// - ITL: the simulator does not keep each token's time, only each request's first and last. The
///   mean ITL is exact (all gaps' total over their count, which is what vLLM averages). Its other
///   statistics, and `itls` below, take every gap of a request to be that request's mean gap.
/// - With `detailed` (vLLM's `--save-detailed`), per request in arrival order: `input_lens`,
///   `output_lens`, `ttfts` (s), `itls` (s), and `errors` ("" or why it failed).
/// - Metadata as vLLM writes it: `num_prompts`, `request_rate` ("inf" in a closed loop),
///   `burstiness` (1 for Poisson, 1/cv² for gamma), `max_concurrency` (`traffic.max_in_flight`, or
///   the closed loop's concurrency; null when unlimited), `model_id` (the entry tier's model). Then
///   `handoff: {scenario, policy, seed}` records where the numbers came from.
public enum VLLMBenchResult {
    /// One request as a benchmark client sees it.
    public struct Request: Sendable {
        public var promptTokens: Int
        public var outputTokens: Int
        public var ttftS: Double
        public var e2elS: Double
        /// "" when it completed, else why not (vLLM's `errors`).
        public var error: String
        public var failed: Bool { !error.isEmpty }
        public var tpotS: Double { outputTokens > 1 ? (e2elS - ttftS) / Double(outputTokens - 1) : 0 }
        public init(promptTokens: Int, outputTokens: Int, ttftS: Double, e2elS: Double, error: String = "") {
            self.promptTokens = promptTokens
            self.outputTokens = outputTokens
            self.ttftS = ttftS
            self.e2elS = e2elS
            self.error = error
        }
    }

    /// The run's settings as vLLM's metadata keeps them.
    public struct Metadata: Sendable {
        /// nil: "inf" (every request sent at once, or a closed loop under `maxConcurrency`).
        public var requestRate: Double?
        public var burstiness: Double
        public var maxConcurrency: Int?
        public var modelID: String
        /// Where the numbers came from (`handoff: {...}`).
        public var origin: JSONValue

        package init(requestRate: Double?, burstiness: Double, maxConcurrency: Int?, modelID: String, origin: JSONValue)
        {
            self.requestRate = requestRate
            self.burstiness = burstiness
            self.maxConcurrency = maxConcurrency
            self.modelID = modelID
            self.origin = origin
        }
    }

    /// 1/CV² of the gaps between sorted arrival times (1 for Poisson; 1 when there are too few).
    static func burstiness(_ arrivals: [Double]) -> Double {
        let gaps = zip(arrivals.dropFirst(), arrivals).map { $0 - $1 }
        guard gaps.count >= 2 else { return 1 }
        let mean = gaps.reduce(0, +) / Double(gaps.count)
        let variance = gaps.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(gaps.count - 1)
        return mean > 0 && variance > 0 ? mean * mean / variance : 1
    }

    public static func json(_ r: SimulationResult, detailed: Bool) -> JSONValue {
        let all = r.outcome.requests.sorted { ($0.arrivalS, $0.id) < ($1.arrivalS, $1.id) }
        let t = r.scenario.traffic
        // A replayed trace's rate and burstiness are its own (as run: scaled when rate_rps is given):
        // the mean rate, and vLLM's gamma shape 1/CV² of its inter-arrival times.
        let replayed = t.arrival == .replay
        let meta = Metadata(
            requestRate: t.arrival == .closed_loop ? nil : replayed ? r.typedSummary.stability.offeredRps : t.rateRps,
            burstiness: replayed
                ? Self.burstiness(all.map(\.arrivalS)) : t.arrival == .gamma ? 1 / max(t.cv * t.cv, 1e-12) : 1,
            maxConcurrency: t.maxInFlight > 0 ? t.maxInFlight : t.arrival == .closed_loop ? t.concurrency : nil,
            modelID: r.scenario.tiers.first?.model.name ?? "",
            origin: .object([
                ("scenario", .string(r.scenario.name)), ("policy", .object(r.scenario.policy.parameters)),
                ("seed", .number(Double(r.scenario.seed)))
            ]))
        let requests = all.map { q in
            Request(
                promptTokens: q.promptTokens, outputTokens: q.outputTokens, ttftS: q.ttftS, e2elS: q.e2elS,
                error: q.rejected ? "rejected: traffic.max_in_flight reached" : q.failed ? "failed" : "")
        }
        return json(requests, duration: r.outcome.endTime, metadata: meta, detailed: detailed)
    }

    /// The result file of `requests` (in the order they were sent) over `duration` seconds.
    public static func json(_ all: [Request], duration: Double, metadata m: Metadata, detailed: Bool) -> JSONValue {
        let ok = all.filter { !$0.failed }
        let input = ok.reduce(0) { $0 + $1.promptTokens }
        let output = ok.reduce(0) { $0 + $1.outputTokens }
        func rate(_ x: Double) -> Double { duration > 0 ? x / duration : 0 }
        var pairs: [(String, JSONValue)] = [
            ("num_prompts", .number(Double(all.count))),
            ("request_rate", m.requestRate.map { .number($0) } ?? .string("inf")),
            ("burstiness", .number(m.burstiness)),
            ("max_concurrency", m.maxConcurrency.map { .number(Double($0)) } ?? .null),
            ("model_id", .string(m.modelID)),
            ("duration", .number(duration)),
            ("completed", .number(Double(ok.count))),
            ("failed", .number(Double(all.count - ok.count))),
            ("total_input_tokens", .number(Double(input))),
            ("total_output_tokens", .number(Double(output))),
            ("request_throughput", .number(rate(Double(ok.count)))),
            ("output_throughput", .number(rate(Double(output)))),
            ("total_token_throughput", .number(rate(Double(input + output))))
        ]
        // ITL: every gap of a request taken as its mean gap, so request q stands for n − 1 equal gaps.
        var itl: [(gap: Double, count: Int)] = []
        for q in ok where q.outputTokens > 1 {
            itl.append(((q.e2elS - q.ttftS) / Double(q.outputTokens - 1) * 1000, q.outputTokens - 1))
        }
        let metrics: [(String, [(gap: Double, count: Int)])] = [
            ("ttft", ok.map { ($0.ttftS * 1000, 1) }),
            ("tpot", ok.filter { $0.outputTokens > 1 }.map { ($0.tpotS * 1000, 1) }),
            ("itl", itl),
            ("e2el", ok.map { ($0.e2elS * 1000, 1) })
        ]
        for (name, xs) in metrics {
            let w = weighted(xs)
            pairs += [
                ("mean_\(name)_ms", .number(w.mean)), ("median_\(name)_ms", .number(w.quantile(0.5))),
                ("std_\(name)_ms", .number(w.std)),
                ("p50_\(name)_ms", .number(w.quantile(0.5))), ("p90_\(name)_ms", .number(w.quantile(0.9))),
                ("p99_\(name)_ms", .number(w.quantile(0.99)))
            ]
        }
        if detailed {
            pairs += [
                ("input_lens", .numbers(all.map { Double($0.promptTokens) })),
                ("output_lens", .numbers(all.map { $0.failed ? 0 : Double($0.outputTokens) })),
                ("ttfts", .numbers(all.map { $0.failed ? 0 : $0.ttftS })),
                (
                    "itls",
                    .array(
                        all.map { q in
                            q.failed || q.outputTokens < 2
                                ? .numbers([])
                                : .numbers(
                                    Array(
                                        repeating: (q.e2elS - q.ttftS) / Double(q.outputTokens - 1),
                                        count: q.outputTokens - 1))
                        })
                ),
                ("errors", .array(all.map { .string($0.error) }))
            ]
        }
        pairs.append(("handoff", m.origin))
        return .object(pairs)
    }

    /// Mean, population std and NumPy-style (linear) quantiles of values each repeated `count`
    /// times, without expanding them. Empty: zeros, as vLLM reports an empty set.
    struct Weighted {
        var sorted: [(gap: Double, count: Int)]
        var total: Int
        var mean: Double
        var std: Double
        func quantile(_ p: Double) -> Double {
            guard total > 0 else { return 0 }
            let h = p * Double(total - 1)
            let lo = Int(h.rounded(.down))
            func value(at k: Int) -> Double {
                var seen = 0
                for x in sorted {
                    seen += x.count
                    if k < seen { return x.gap }
                }
                return sorted[sorted.count - 1].gap
            }
            let a = value(at: lo)
            let b = value(at: min(lo + 1, total - 1))
            return a + (h - Double(lo)) * (b - a)
        }
    }

    static func weighted(_ xs: [(gap: Double, count: Int)]) -> Weighted {
        let total = xs.reduce(0) { $0 + $1.count }
        guard total > 0 else { return Weighted(sorted: [], total: 0, mean: 0, std: 0) }
        let mean = xs.reduce(0.0) { $0 + $1.gap * Double($1.count) } / Double(total)
        let variance = xs.reduce(0.0) { $0 + Double($1.count) * ($1.gap - mean) * ($1.gap - mean) } / Double(total)
        return Weighted(sorted: xs.sorted { $0.gap < $1.gap }, total: total, mean: mean, std: variance.squareRoot())
    }
}
