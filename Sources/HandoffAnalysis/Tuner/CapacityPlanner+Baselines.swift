import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// The same capacity question for each tier of the policy alone, and the verdict.
public struct CapacityBaseline: Sendable {
    /// `large-only`, `small-only`.
    public var name: String
    public var tier: String
    public var result: CapacityResult?
    /// Why it could not be planned (an input error of the single-tier variant).
    public var error: String?
}

extension CapacityPlanner {
    /// Plans each tier the policy serves on alone (`policy={name: single, tier: T}`, the tier's
    /// GPU choices kept), by the same method; empty for a single-tier policy.
    public func baselines() throws -> [CapacityBaseline] {
        let names = try family.scenario().servingTiers
        guard names.count > 1 else { return [] }
        return try names.map { t in
            let name = "\(t)-only"
            do {
                let p = try CapacityPlanner(
                    family: family.derived(["policy={name: single, tier: \(t)}"]), rateRps: rateRps, slos: slos,
                    gpuChoices: gpuChoices.filter { $0.key == t }, tpChoices: tpChoices.filter { $0.key == t },
                    dtypeChoices: dtypeChoices.filter { $0.key == t })
                p.maxReplicas = maxReplicas
                p.progress = { [progress] in progress("baseline \(name): \($0)") }
                return CapacityBaseline(name: name, tier: t, result: try p.run())
            } catch let e as HandoffError where e.exitCode == 2 {
                return CapacityBaseline(name: name, tier: t, result: nil, error: e.description)
            }
        }
    }

    /// Which plan to deploy, in a sentence or two: the cheapest $/hour that meets the SLOs, plans
    /// within `tie` breaking on predicted accuracy, then fewer GPUs. Capacity bounds no accuracy
    /// unless an SLO does, so against the hybrid a baseline that is cheaper and at least as
    /// accurate is named first; one that is only cheaper is said to be less accurate, with the
    /// bound that would weigh it. Returns the text and which to deploy (`hybrid` or a baseline's
    /// name; nil when nothing meets the SLOs).
    public static func verdict(
        _ hybrid: CapacityResult, _ baselines: [CapacityBaseline], tie: Double = 0.005
    ) -> (sentence: String, recommended: String?) {
        var options: [VerdictOption] = baselines.compactMap { b in
            b.result.flatMap { $0.plan == nil ? nil : VerdictOption(name: b.name, r: $0) }
        }
        let h = hybrid.plan == nil ? nil : VerdictOption(name: "the hybrid", r: hybrid)
        if let h { options.insert(h, at: 0) }
        guard let cheapest = options.map(\.usd).min() else {
            return (
                "Neither the hybrid nor \(baselines.map(\.name).joined(separator: " nor ")) meets the SLOs up to the replicas allowed.",
                nil
            )
        }
        let w = options.filter { $0.usd <= cheapest * (1 + tie) }.max { ($0.accuracy, -$0.gpus) < ($1.accuracy, -$1.gpus) }!
        let missing = baselines.filter { $0.result?.plan == nil }.map { "\($0.name) cannot meet them" }
        guard let h, w.name != h.name else {
            let others = options.filter { $0.name != w.name }.map { "\($0.name) \($0.plan), \(percent($0.usd, w.usd)) more" }
            let tail = (others + missing).joined(separator: "; ")
            let lead = h == nil ? "No hybrid plan meets the SLOs up to the replicas allowed; deploy \(w.name)" : "Deploy the hybrid"
            return ("\(lead): it meets the SLOs at \(w.plan)" + (tail.isEmpty ? "." : "; \(tail)."), h == nil ? w.name : "hybrid")
        }
        // A baseline as cheap (within the tie) and at least as accurate dominates the hybrid.
        let dominant = options.filter {
            $0.name != h.name && $0.usd <= h.usd * (1 + tie) && $0.accuracy >= h.accuracy - tie * abs(h.accuracy)
        }.min { ($0.usd, -$0.accuracy) < ($1.usd, -$1.accuracy) }
        let d = dominant ?? w
        var s =
            "\(dominant == nil ? "On cost alone, do not" : "Do not") deploy the hybrid: \(d.name) meets the SLOs at \(d.plan), \(percent(h.usd, d.usd)) below the hybrid's \(h.plan), at predicted accuracy \(HumanNumber.format(d.accuracy)) against the hybrid's \(HumanNumber.format(h.accuracy))."
        if dominant == nil {
            s += " If accuracy matters, bound it (--slo 'accuracy.predicted>=\(HumanNumber.roundedDown(h.accuracy, digits: 3))')."
        } else if w.name != d.name {
            s += " \(w.name) is cheaper still, \(w.plan), at accuracy \(HumanNumber.format(w.accuracy))."
        }
        if !missing.isEmpty { s += " " + missing.joined(separator: "; ") + "." }
        return (s + SummaryKeys.syntheticAccuracyNote(h.r.summary, text: s), d.name)
    }

    /// One answer the verdict weighs.
    struct VerdictOption {
        var name: String
        var r: CapacityResult
        var usd: Double { r.usdPerHour }
        var gpus: Int { r.gpuCount }
        var accuracy: Double { r.summary?.number(at: "accuracy.predicted") ?? -.infinity }
        var plan: String { "$" + String(format: "%.2f", usd) + "/hour (\(gpus) GPU\(gpus == 1 ? "" : "s"))" }
    }

    /// How far `a` is from `b`, as a share of the larger: "14.2%".
    static func percent(_ a: Double, _ b: Double) -> String {
        HumanNumber.format(abs(a - b) / max(abs(a), abs(b)) * 100, digits: 3) + "%"
    }

    /// The baselines as JSON (`capacity.json`'s `baselines`).
    public func baselinesJSON(_ bs: [CapacityBaseline]) -> JSONValue {
        .array(bs.map(baselineJSON))
    }

    func baselineJSON(_ b: CapacityBaseline) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("name", .string(b.name)), ("tier", .string(b.tier)), ("feasible", .bool(b.result?.plan != nil)),
            ("error", b.error.map(JSONValue.string) ?? .null)
        ]
        if let r = b.result, let p = r.plan, let k = tiers.firstIndex(of: b.tier) {
            pairs.append(("gpu", .string(p.gpus[k])))
            pairs.append(("tensor_parallel", .number(Double(p.tensorParallel[k]))))
            pairs.append(("weight_dtype", .string(p.weightDtypes[k])))
            pairs.append(("replicas", .number(Double(p.replicas[k]))))
            pairs.append(("gpus", .number(Double(r.gpuCount))))
            pairs.append(("usd_per_hour", .number(r.usdPerHour)))
            let acc = r.summary?.number(at: "accuracy.predicted")
            pairs.append(("accuracy_predicted", acc.map(JSONValue.number) ?? .null))
        }
        pairs.append(("simulations", .number(Double(b.result?.simulations ?? 0))))
        return .object(pairs)
    }
}
