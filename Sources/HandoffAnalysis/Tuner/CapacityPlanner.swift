import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// A capacity plan: GPU type, replicas, tensor parallelism and weight format per GPU tier.
public struct CapacityPlan: Sendable, Equatable {
    public var gpus: [String]
    public var replicas: [Int]
    /// Per tier; empty: the scenario's (a plan built by hand in a test).
    public var tensorParallel: [Int] = []
    public var weightDtypes: [String] = []

    /// "H100-SXM-80GB" or, when TP or the format was searched, "H100-SXM-80GB tp2 fp8" per tier.
    public func shape(_ k: Int, tp searched: Bool, dtype: Bool) -> String {
        gpus[k] + (searched ? " tp\(tensorParallel[k])" : "") + (dtype ? " \(weightDtypes[k])" : "")
    }
}

/// The answer of `capacity`.
public struct CapacityResult: Sendable {
    public var tiers: [String]
    public var plan: CapacityPlan?
    public var summary: JSONValue?
    public var usdPerHour: Double
    public var gpuCount: Int
    /// The highest arrival rate (req/s) at which the plan still meets the SLOs.
    public var headroomRps: Double?
    /// Every GPU combination tried, with its fewest replicas (nil: none up to the limit).
    public var candidates: [(plan: CapacityPlan, replicas: [Int]?, usdPerHour: Double?)]
    public var simulations: Int
    /// Requests per simulation of the answer: the run was doubled from the scenario's count until
    /// the headroom moved by at most `CapacityPlanner.headroomTolerance`.
    public var runRequests = 0
    /// Each run length tried and the headroom at it, in order.
    public var headroomByRequests: [(requests: Int, rps: Double)] = []
    /// Whether the last doubling moved the headroom by at most the tolerance; false: the runs are
    /// too short to trust the headroom (it is still reported, flagged).
    public var headroomSettled = false
    /// When no plan meets the SLOs: the largest plan tried and its summary, to say which bound is
    /// out of reach and how close it came.
    public var largestTried: (plan: CapacityPlan, summary: JSONValue)?
}

/// `handoff capacity`: the fewest replicas per GPU tier, and given lists the cheapest GPU type per
/// tier, that meet SLOs at an arrival rate.
///
/// For each combination of GPU types: replicas of every tier double from 1 until the SLOs hold
/// (the bracket); then each tier's count is bisected down with the others fixed, until a pass
/// changes nothing. This assumes more replicas never hurt (true of this model's routing to the
/// least loaded replica up to sampling noise; common random numbers keep the arrivals fixed).
/// The cheapest plan in $/hour wins, fewer GPUs breaking ties. Headroom: the rate is doubled
/// until the plan fails, then bisected to `headroomPrecision`. A plan with failed or rejected
/// requests never meets the SLOs. O(tiers · log(replicas)) simulations per GPU combination.
public final class CapacityPlanner {
    public let family: ScenarioFamily
    public let rateRps: Double
    public let slos: [MetricConstraint]
    /// Candidate GPU types per tier name; tiers not listed keep the scenario's.
    public let gpuChoices: [String: [String]]
    /// Candidate tensor-parallel sizes and weight formats per tier (`--tp`, `--dtype`).
    public let tpChoices: [String: [Int]]
    public let dtypeChoices: [String: [String]]
    /// Each tier's key under `models` (for `models.<key>.weight_dtype`).
    let modelKeys: [String]
    let scenarioDtypes: [String]
    public var maxReplicas = 512
    public var headroomPrecision = 0.01
    /// The headroom has settled when doubling the requests per run moves it by at most this.
    public static let headroomTolerance = 0.05
    /// Run lengths are doubled at most this many times (and to at most `maxRunRequests`).
    public var maxDoublings = 5
    /// No plan is judged on fewer requests per run than this: the scenario's count is doubled up
    /// to it first. A short run does not resolve a tail near the knee: on an M/M/c queue
    /// (StabilityTests) a 1,200-request run passed 7 servers for ttft.p90 ≤ 15 ms, which Erlang C
    /// fails (P(wait) = 0.135 > 0.1), and the headroom looked settled at 600 → 1,200 requests.
    public var minRunRequests = 5000
    public var maxRunRequests = 200_000
    /// Requests per simulation; nil: the scenario's own count.
    var runRequests: Int?
    /// The scenario's own request count.
    let baseRequests: Int
    /// Whether arrivals are replayed from the trace, and the trace's request count.
    public let replays: Bool
    public let traceRequests: Int
    public var progress: (String) -> Void = { _ in }
    public let tiers: [String]
    public let tensorParallel: [Int]
    /// Whether each GPU tier is paid for (the policy serves on it, or it is provisioned): only
    /// those count in the plan's GPUs and $/hour.
    public let billed: [Bool]
    let slotsPerReplica: [Int]
    /// The scenario's GPU type per tier, used where `gpuChoices` lists none.
    let scenarioGPUs: [String]

    public init(
        family: ScenarioFamily, rateRps: Double, slos: [MetricConstraint], gpuChoices: [String: [String]] = [:],
        tpChoices: [String: [Int]] = [:], dtypeChoices: [String: [String]] = [:]
    ) throws {
        self.tpChoices = tpChoices
        self.dtypeChoices = dtypeChoices
        self.family = family
        self.rateRps = rateRps
        self.slos = slos.reduce(into: []) { acc, c in
            if !acc.contains(where: { $0.description == c.description }) { acc.append(c) }
        }
        self.gpuChoices = gpuChoices
        let base = try family.scenario()
        let gpuTiers = base.tiers.filter { $0.kind == .gpu }
        tiers = gpuTiers.map(\.name)
        tensorParallel = gpuTiers.map(\.tensorParallel)
        billed = gpuTiers.map { $0.colocateWith == nil && base.billsTier($0) }
        slotsPerReplica = gpuTiers.map(\.maxNumSeqs)
        scenarioGPUs = gpuTiers.map(\.gpu.name)
        modelKeys = gpuTiers.map { base.source.node(at: "tiers.\($0.name).model")?.scalar ?? $0.name }
        scenarioDtypes = gpuTiers.map(\.model.weightDtype.rawValue)
        guard !tiers.isEmpty else {
            throw HandoffError.input("the scenario has no GPU tier to size", file: family.origin)
        }
        if let split = gpuTiers.first(where: { $0.disaggregation != nil }) {
            throw HandoffError.input(
                "tier '\(split.name)' is split into prefill and decode pools, whose sizes capacity does not search; choose them with tune --vary tiers.\(split.name).disaggregated.prefill_replicas=… --vary tiers.\(split.name).disaggregated.decode_replicas=… (docs/disaggregation.md)",
                file: family.origin)
        }
        guard !slos.isEmpty else {
            throw HandoffError.input("give at least one --slo, e.g. 'latency_ms.ttft.p99<=2000'")
        }
        let named: [(String, [String])] = [
            ("--gpus", Array(gpuChoices.keys)), ("--tp", Array(tpChoices.keys)), ("--dtype", Array(dtypeChoices.keys))
        ]
        for (option, keys) in named {
            for t in keys where !tiers.contains(t) {
                throw HandoffError.input(
                    "no GPU tier named '\(t)' (tiers: \(tiers.joined(separator: ", ")))", field: option)
            }
        }
        guard base.traffic.arrival != .closed_loop else {
            throw HandoffError.input(
                "sizes for an open arrival rate, but the scenario's traffic.arrival is closed_loop (its rate follows from concurrency); set traffic.arrival to poisson, gamma or replay",
                field: "--rate")
        }
        let summary = try family.summary(["traffic.rate_rps=\(JSONWriter.number(rateRps))"])
        baseRequests = max(
            1, Int(summary.number(at: "requests") ?? 0) + Int(summary.number(at: "requests_failed") ?? 0))
        replays = base.traffic.arrival == .replay
        traceRequests = try family.trace(base, []).count
        for s in slos { try SummaryKeys.check(s.key, in: summary, field: "--slo \(s)") }
        for (t, names) in gpuChoices {
            for g in names {
                do { _ = try family.scenario(["tiers.\(t).gpu=\(g)"]) } catch let e as HandoffError where e.doesNotFit {
                }
            }
        }
        for (t, tps) in tpChoices {
            for tp in tps {
                do { _ = try family.scenario(["tiers.\(t).tensor_parallel=\(tp)"]) } catch let e as HandoffError
                where e.doesNotFit {
                } catch let e as HandoffError { throw e.with(field: "--tp \(t)=\(tp)") }
            }
        }
        for (k, t) in tiers.enumerated() {
            for d in dtypeChoices[t] ?? [] {
                do { _ = try family.scenario(["models.\(modelKeys[k]).weight_dtype=\(d)"]) } catch let e as HandoffError
                where e.doesNotFit {
                } catch let e as HandoffError { throw e.with(field: "--dtype \(t)=\(d)") }
            }
        }
    }

    func overrides(_ p: CapacityPlan, rate: Double) -> [String] {
        var o = ["traffic.rate_rps=\(JSONWriter.number(rate))"]
        if let n = runRequests { o.append("traffic.requests=\(n)") }
        for (k, t) in tiers.enumerated() {
            o.append("tiers.\(t).gpu=\(p.gpus[k])")
            o.append("tiers.\(t).replicas=\(p.replicas[k])")
            if tpChoices[t] != nil { o.append("tiers.\(t).tensor_parallel=\(p.tensorParallel[k])") }
            if dtypeChoices[t] != nil { o.append("models.\(modelKeys[k]).weight_dtype=\(p.weightDtypes[k])") }
        }
        // A backlog far beyond every slot means the plan has already failed: reject instead of
        // simulating an ever-growing queue (speed only; any rejection makes the plan infeasible).
        let slots = zip(p.replicas, slotsPerReplica).reduce(0) { $0 + $1.0 * $1.1 }
        o.append("traffic.max_in_flight=\(max(256, 16 * slots))")
        return o
    }

    func meets(_ p: CapacityPlan, rate: Double) throws -> (Bool, JSONValue) {
        let s = try family.summary(overrides(p, rate: rate))
        return (MetricConstraint.allMet(slos, by: s), s)
    }

    func usdPerHour(_ p: CapacityPlan) throws -> Double {
        // The tiers the summary bills: those the policy serves on, or `provisioned` (docs/output.md).
        try family.scenario(overrides(p, rate: rateRps)).billedGPUs.usdPerHour
    }

    /// The largest plan tried that met nothing, with its summary (`CapacityResult.largestTried`).
    var largestTried: (plan: CapacityPlan, summary: JSONValue)?

    /// The fewest replicas per tier for a fixed shape (GPU types, TP, formats), or nil.
    func fewestReplicas(_ shape: CapacityPlan) throws -> [Int]? {
        func plan(_ r: [Int]) -> CapacityPlan {
            var p = shape
            p.replicas = r
            return p
        }
        let gpus = shape.gpus
        var r = [Int](repeating: 1, count: tiers.count)
        while true {
            let (ok, summary) = try meets(plan(r), rate: rateRps)
            if ok { break }
            largestTried = (plan(r), summary)
            if zip(r, billed).allSatisfy({ $0 >= maxReplicas || !$1 }) { return nil }
            // A tier the policy does not serve on (large-only's small frontend) stays at 1.
            r = zip(r, billed).map { $1 ? min(maxReplicas, $0 * 2) : $0 }
            progress("  \(gpus.joined(separator: "/")): trying \(r.map(String.init).joined(separator: "/")) replicas")
        }
        for _ in 0..<4 {
            var changed = false
            for k in tiers.indices {
                var lo = 0
                var hi = r[k]  // lo fails (or is 0), hi meets
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    var t = r
                    t[k] = mid
                    if try meets(plan(t), rate: rateRps).0 { hi = mid } else { lo = mid }
                }
                if hi != r[k] {
                    r[k] = hi
                    changed = true
                }
            }
            if !changed { break }
        }
        return r
    }

    /// The cheapest plan at the current run length: every GPU combination's fewest replicas.
    func cheapestPlan() throws -> (
        best: (plan: CapacityPlan, usd: Double, gpus: Int)?,
        candidates: [(plan: CapacityPlan, replicas: [Int]?, usdPerHour: Double?)]
    ) {
        var candidates: [(plan: CapacityPlan, replicas: [Int]?, usdPerHour: Double?)] = []
        var best: (plan: CapacityPlan, usd: Double, gpus: Int)?
        for shape in shapes() {
            progress("\(tiers.indices.map { shape.shape($0, tp: tpChoices[tiers[$0]] != nil, dtype: dtypeChoices[tiers[$0]] != nil) }.joined(separator: " / "))")
            let r: [Int]?
            do { r = try fewestReplicas(shape) } catch let e as HandoffError where e.doesNotFit { r = nil }
            guard let r else {
                candidates.append((shape, nil, nil))
                continue
            }
            var p = shape
            p.replicas = r
            let usd = try usdPerHour(p)
            let n = tiers.indices.reduce(0) { $0 + (billed[$1] ? r[$1] * p.tensorParallel[$1] : 0) }
            candidates.append((p, r, usd))
            if best == nil || usd < best!.usd - 1e-9 || (abs(usd - best!.usd) <= 1e-9 && n < best!.gpus) {
                best = (p, usd, n)
            }
        }
        return (best, candidates)
    }

    /// Every combination of the tiers' GPU types, TP sizes and weight formats (replicas empty).
    func shapes() -> [CapacityPlan] {
        var combos = [CapacityPlan(gpus: [], replicas: [])]
        for (k, t) in tiers.enumerated() {
            let options = (gpuChoices[t] ?? [scenarioGPUs[k]]).flatMap { g in
                (tpChoices[t] ?? [tensorParallel[k]]).flatMap { tp in
                    (dtypeChoices[t] ?? [scenarioDtypes[k]]).map { (g, tp, $0) }
                }
            }
            combos = combos.flatMap { c in
                options.map { o in
                    var p = c
                    p.gpus.append(o.0)
                    p.tensorParallel.append(o.1)
                    p.weightDtypes.append(o.2)
                    return p
                }
            }
        }
        return combos
    }

    /// The highest rate the plan sustains at the current run length: the rate doubles until the
    /// plan fails, then is bisected to `headroomPrecision`.
    func headroom(_ plan: CapacityPlan) throws -> Double {
        progress(
            "headroom of \(plan.replicas.map(String.init).joined(separator: "/")) replicas at \(runRequests ?? baseRequests) requests per run"
        )
        var lo = rateRps
        var hi = rateRps * 2
        while try meets(plan, rate: hi).0 {
            lo = hi
            hi *= 2
            if hi > rateRps * 1024 { break }
        }
        while (hi - lo) / lo > headroomPrecision {
            let mid = (lo + hi) / 2
            if try meets(plan, rate: mid).0 { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// The plan and its headroom, with runs of at least `minRunRequests` requests, doubled in
    /// length until the headroom moves by at most `headroomTolerance` (a short run hides a backlog that a long one shows: the headroom of a
    /// 300-request run can be ten times a 3,000-request one's). When a doubled run breaks the
    /// plan, the plan is searched again at the longer runs.
    public func run() throws -> CapacityResult {
        runRequests = nil
        largestTried = nil
        try lengthenUntilWarm()
        var start = runRequests ?? baseRequests
        while start < minRunRequests && 2 * start <= maxRunRequests { start *= 2 }
        if start != baseRequests { runRequests = start }
        var (best, candidates) = try cheapestPlan()
        guard var chosen = best else { return infeasible(candidates) }
        var n = runRequests ?? baseRequests
        var h = try headroom(chosen.plan)
        var history = [(requests: n, rps: h)]
        var settled = false
        for _ in 0..<maxDoublings where 2 * n <= maxRunRequests {
            n *= 2
            runRequests = n
            progress("checking at \(n) requests per run")
            if try !meets(chosen.plan, rate: rateRps).0 {
                (best, candidates) = try cheapestPlan()
                guard let b = best else { return infeasible(candidates) }
                chosen = b
                h = try headroom(chosen.plan)
                history.append((n, h))
                continue
            }
            let h2 = try headroom(chosen.plan)
            history.append((n, h2))
            let moved = abs(h2 - h) > Self.headroomTolerance * h
            h = h2
            if !moved {
                settled = true
                break
            }
        }
        let summary = try meets(chosen.plan, rate: rateRps).1
        var r = CapacityResult(
            tiers: tiers, plan: chosen.plan, summary: summary, usdPerHour: chosen.usd, gpuCount: chosen.gpus,
            headroomRps: history.last!.rps, candidates: candidates, simulations: family.simulations)
        r.runRequests = runRequests ?? baseRequests
        r.headroomByRequests = history
        r.headroomSettled = settled
        return r
    }

    /// Doubles the requests per run while the scenario as given is `too_short` at the rate (its
    /// requests take a third of the arrival span or more), so that no plan is judged on warm-up.
    func lengthenUntilWarm() throws {
        var n = baseRequests
        for _ in 0..<maxDoublings where 2 * n <= maxRunRequests {
            var o = ["traffic.rate_rps=\(JSONWriter.number(rateRps))"]
            if n != baseRequests { o.append("traffic.requests=\(n)") }
            guard SummaryKeys.stability(try family.summary(o)) == "too_short" else { break }
            n *= 2
            runRequests = n
            progress("the scenario's run is mostly warm-up at this rate: \(n) requests per run")
        }
    }

    func infeasible(_ candidates: [(plan: CapacityPlan, replicas: [Int]?, usdPerHour: Double?)]) -> CapacityResult {
        var r = CapacityResult(
            tiers: tiers, plan: nil, summary: nil, usdPerHour: 0, gpuCount: 0, headroomRps: nil,
            candidates: candidates, simulations: family.simulations)
        r.runRequests = runRequests ?? baseRequests
        r.largestTried = largestTried
        return r
    }

    /// The result as JSON (stable keys: docs/tuning.md).
    public func json(_ r: CapacityResult) -> JSONValue {
        var tierPairs: [(String, JSONValue)] = []
        if let p = r.plan, let s = r.summary {
            for (k, t) in tiers.enumerated() {
                tierPairs.append(
                    (
                        t,
                        .object([
                            ("gpu", .string(p.gpus[k])), ("replicas", .number(Double(p.replicas[k]))),
                            ("tensor_parallel", .number(Double(p.tensorParallel[k]))),
                            ("weight_dtype", .string(p.weightDtypes[k])),
                            ("gpus", .number(Double(p.replicas[k] * p.tensorParallel[k]))),
                            ("utilization", s.number(at: "utilization.\(t)").map(JSONValue.number) ?? .null)
                        ])
                    ))
            }
        }
        return .object([
            (
                "capacity",
                .object([
                    ("scenario", .string(family.origin)), ("set", .array(family.baseOverrides.map { .string($0) })),
                    ("rate_rps", .number(rateRps)), ("slo", .array(slos.map { .string($0.description) })),
                    (
                        "gpu_choices",
                        .object(
                            gpuChoices.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .string($0) })) }
                        )
                    )
                ])
            ),
            ("feasible", .bool(r.plan != nil)),
            ("tiers", .object(tierPairs)),
            ("gpus", .number(Double(r.gpuCount))),
            ("usd_per_hour", .number(r.usdPerHour)),
            ("headroom_rps", r.headroomRps.map(JSONValue.number) ?? .null),
            ("headroom_settled", .bool(r.headroomSettled)),
            ("run_requests", .number(Double(r.runRequests))),
            (
                "headroom_by_requests",
                .array(
                    r.headroomByRequests.map {
                        .object([("requests", .number(Double($0.requests))), ("headroom_rps", .number($0.rps))])
                    })
            ),
            // One entry per key: two bounds on one metric (or one --slo given twice) share its value.
            (
                "slo_values",
                .object(
                    slos.map(\.key).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                        .map { ($0, r.summary?.number(at: $0).map(JSONValue.number) ?? .null) })
            ),
            ("candidates", .array(r.candidates.map(Self.candidateJSON))),
            (
                "largest_tried",
                r.largestTried.map { t in
                    .object([
                        ("gpus", .array(t.plan.gpus.map { .string($0) })),
                        ("replicas", .array(t.plan.replicas.map { .number(Double($0)) })),
                        (
                            "slo_values",
                            .object(slos.map { ($0.key, t.summary.number(at: $0.key).map(JSONValue.number) ?? .null) })
                        ),
                        ("stability", .string(SummaryKeys.stability(t.summary)))
                    ])
                } ?? .null
            ),
            ("simulations", .number(Double(r.simulations))),
            ("summary", r.summary ?? .null)
        ])
    }

    /// One combination sized: its GPU types, TP sizes and formats per tier, replicas and $/hour.
    static func candidateJSON(_ c: (plan: CapacityPlan, replicas: [Int]?, usdPerHour: Double?)) -> JSONValue {
        .object([
            ("gpus", .array(c.plan.gpus.map { .string($0) })),
            ("tensor_parallel", .array(c.plan.tensorParallel.map { .number(Double($0)) })),
            ("weight_dtypes", .array(c.plan.weightDtypes.map { .string($0) })),
            ("replicas", c.replicas.map { .array($0.map { .number(Double($0)) }) } ?? .null),
            ("usd_per_hour", c.usdPerHour.map(JSONValue.number) ?? .null)
        ])
    }

    /// `20/s`, `20`, `1200/min`, `72000/h` → requests per second.
    public static func parseRate(_ text: String) throws -> Double {
        let parts = text.replacingOccurrences(of: " ", with: "").split(separator: "/", omittingEmptySubsequences: false)
        let per: Double
        switch parts.count == 2 ? String(parts[1]) : "s" {
        case "s", "sec": per = 1
        case "min", "m": per = 60
        case "h", "hour": per = 3600
        default: throw HandoffError.input("unknown unit in '\(text)'; expected N/s, N/min or N/h", field: "--rate")
        }
        guard parts.count <= 2, let n = Double(parts[0]), n.isFinite else {
            throw HandoffError.input(
                "'\(text)' is not a rate; expected a positive number per unit, such as 20/s", field: "--rate")
        }
        guard n > 0 else {
            let what = n < 0 ? "is a negative rate" : "is a rate of zero"
            throw HandoffError.input("'\(text)' \(what); expected a positive rate such as 20/s", field: "--rate")
        }
        return n / per
    }
}
