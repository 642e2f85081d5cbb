import HandoffModel
import HandoffSupport

/// Whether a run is a result: did it reach a steady state, or is it overloaded (the queue grows
/// without bound, so every percentile depends on how long the run was), or too short to tell?
///
/// The signals a queueing engineer reads off an open-loop run, from the requests alone, over the
/// window from a third of the arrival span to the last arrival (the first third warms up):
/// - `served_share`: requests completed in the window over requests arrived in it. Steady:
///   departures keep pace with arrivals, 1 up to counting noise; overloaded, about μ/λ < 1.
/// - `in_system_start`, `in_system_mid`, `in_system_end`: requests in the system (arrived, not
///   finished) at the window's start, half the arrival span and the last arrival. Steady: they
///   fluctuate around Little's L = λW. Overloaded: the backlog grows linearly. The growth over the
///   window, end − start, is exactly arrivals minus departures in it.
/// - `e2el_trend`: mean E2EL of the last third of arrivals over the first third's. Steady: about
///   1; overloaded, waiting time grows with arrival time, so it is several.
/// - `warmup_share`: mean E2EL over the arrival span. A run whose requests take more than a third
///   of it is mostly warm-up and drain: its percentiles are not the steady state's.
///
/// `state`: `overloaded` when warm-up dominates (warmup_share > 1/3) but latency climbs with
/// arrival time (e2el_trend > 1.5) while service lags arrivals (served_share < 0.9): a queue
/// building, not a system filling up; `too_short` when warm-up dominates otherwise; else `overloaded` when the
/// backlog grew over the window by more than counting noise, end − start > 3·√(start + end + 1),
/// and by at least 3% of the window's arrivals (so a run that is long enough resolves an offered
/// load 3% past capacity); else `steady`. A closed loop cannot be overloaded (arrivals wait for
/// completions). `capacity`, `tune`, `sweep` and `report` treat a run that is not `steady` as
/// meeting no constraint (docs/output.md).
extension SimulationSummary {
    public struct Stability: Codable, Sendable {
        public enum State: String, Codable, Sendable {
            case steady, overloaded
            case tooShort = "too_short"
        }
        public var state: State
        public var offeredRps, servedRps, servedShare: Double
        public var inSystemStart, inSystemMid, inSystemEnd: Int
        public var e2elTrend, warmupShare: Double
        /// Replayed arrival times were multiplied by this to reach `traffic.rate_rps`.
        public var replayTimeScale: Double?
        /// Why the state is not `steady`, in words; empty when it is.
        public var reasons: [String]
        enum CodingKeys: String, CodingKey {
            case state
            case offeredRps = "offered_rps"
            case servedRps = "served_rps"
            case servedShare = "served_share"
            case inSystemStart = "in_system_start"
            case inSystemMid = "in_system_mid"
            case inSystemEnd = "in_system_end"
            case e2elTrend = "e2el_trend"
            case warmupShare = "warmup_share"
            case replayTimeScale = "replay_time_scale"
            case reasons
        }

        public static let minServedShare = 0.9
        public static let maxE2ELTrend = 1.5
        public static let maxWarmupShare = 1.0 / 3
        public static let minGrowthShare = 0.03
        public static let growthNoiseSigmas = 3.0

        /// The stability of outcome `o` (`closedLoop`: arrivals follow completions).
        public init(_ o: SimulationOutcome, closedLoop: Bool) {
            let rs = o.requests.filter { !$0.rejected }
            let arrivals = rs.map(\.arrivalS)
            let first = arrivals.min() ?? 0
            let last = arrivals.max() ?? 0
            let span = last - first
            let ends = rs.map { $0.arrivalS + ($0.failed ? 0 : $0.e2elS) }
            let from = first + span / 3
            let arrived = arrivals.reduce(0) { $0 + ($1 >= from ? 1 : 0) }
            let served = zip(rs, ends).reduce(0) { $0 + (!$1.0.failed && $1.1 >= from && $1.1 <= last ? 1 : 0) }
            func inSystem(_ t: Double) -> Int {
                zip(arrivals, ends).reduce(0) { $0 + ($1.0 <= t && $1.1 > t ? 1 : 0) }
            }
            let ok = rs.filter { !$0.failed }.sorted { $0.arrivalS < $1.arrivalS }
            let third = ok.count / 3
            func meanE2EL(_ xs: ArraySlice<RequestOutcome>) -> Double {
                xs.isEmpty ? 0 : xs.reduce(0) { $0 + $1.e2elS } / Double(xs.count)
            }
            let early = meanE2EL(ok.prefix(third))
            let meanAll = meanE2EL(ok[...])
            offeredRps = span > 0 ? Double(rs.count - 1) / span : 0
            servedRps = span > 0 ? Double(served) / (last - from) : 0
            servedShare = arrived > 0 ? Double(served) / Double(arrived) : 1
            inSystemStart = inSystem(from)
            inSystemMid = inSystem(first + span / 2)
            inSystemEnd = inSystem(last)
            e2elTrend = early > 0 ? meanE2EL(ok.suffix(third)) / early : 1
            // All arrivals at one instant: no span to warm up in, so any served request is all warm-up.
            warmupShare = span > 0 ? meanAll / span : (ok.isEmpty ? 0 : 1)
            replayTimeScale = o.arrivalTimeScale
            (state, reasons) = Self.judge(
                start: inSystemStart, end: inSystemEnd, arrived: arrived, servedShare: servedShare,
                trend: e2elTrend, warmup: warmupShare, closedLoop: closedLoop)
        }

        static func judge(
            start: Int, end: Int, arrived: Int, servedShare: Double, trend: Double, warmup: Double, closedLoop: Bool
        ) -> (State, [String]) {
            func pct(_ x: Double) -> String { String(Int((100 * x).rounded())) + "%" }
            if warmup > maxWarmupShare && !(!closedLoop && servedShare < minServedShare && trend > maxE2ELTrend) {
                var why = [
                    "the mean E2EL is \(pct(warmup)) of the arrival span: warm-up and drain dominate; simulate more requests (traffic.requests)"
                ]
                if !closedLoop && servedShare < minServedShare {
                    why.append(
                        "only \(pct(servedShare)) of the requests that arrived after the first third of the arrivals were served by the last one: it may be overloaded"
                    )
                }
                return (.tooShort, why)
            }
            let growth = Double(end - start)
            let noise = growthNoiseSigmas * Double(start + end + 1).squareRoot()
            // Mostly warm-up, yet latency climbs with arrival time while arrivals outpace service:
            // a queue building, not a system filling up.
            let climbing = warmup > maxWarmupShare
            guard climbing || (!closedLoop && growth > noise && growth >= minGrowthShare * Double(arrived)) else {
                return (.steady, [])
            }
            return (
                .overloaded,
                [
                    "requests in the system grew from \(start) to \(end) over the last two thirds of the arrivals (counting noise: ±\(Int(noise.rounded())))",
                    "served \(pct(servedShare)) of the requests that arrived in that time (a steady run serves ~100%)",
                    String(format: "mean E2EL of the last third of arrivals is %.2f× the first third's", trend)
                ]
            )
        }
    }
}
