import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

extension JSONValue {
    /// The number at a dotted summary key (`latency_ms.e2el.p99`), or nil.
    public func number(at dotted: String) -> Double? {
        var cur: JSONValue? = self
        for p in dotted.split(separator: ".") { cur = cur?[String(p)] }
        if case .number(let x)? = cur { return x }
        return nil
    }
}

/// The numeric summary keys of `simulate` (docs/output.md), for checking metric names.
public enum SummaryKeys {
    public static func numeric(_ summary: JSONValue) -> [String] {
        SimulationOutput.flatten(summary).map(\.0).filter { summary.number(at: $0) != nil }
    }

    /// No request failed or was rejected.
    public static func servedAll(_ summary: JSONValue) -> Bool { (summary.number(at: "requests_failed") ?? 1) == 0 }

    /// The run reached a steady state (`stability.state` is steady; true for a summary without it).
    public static func steady(_ summary: JSONValue) -> Bool {
        let s = stability(summary)
        return s == "" || s == "steady"
    }

    /// `stability.state`: steady, overloaded or too_short ("" for a summary without it).
    public static func stability(_ summary: JSONValue) -> String {
        if case .string(let s)? = summary["stability"]?["state"] { return s }
        return ""
    }

    /// Whether the summary's accuracy comes from invented labels (`accuracy.source` synthetic).
    public static func syntheticAccuracy(_ summary: JSONValue?) -> Bool {
        if case .string("synthetic")? = summary?["accuracy"]?["source"] { return true }
        return false
    }

    /// What a sentence that weighs predicted accuracy must add when the labels are invented.
    public static func syntheticAccuracyNote(_ summary: JSONValue?, text: String) -> String {
        text.contains("accuracy") && syntheticAccuracy(summary)
            ? " The accuracy is SYNTHETIC (invented labels): do not decide on it." : ""
    }

    /// Checks that `key` names a number in `summary`; the error suggests the closest key.
    public static func check(_ key: String, in summary: JSONValue, field: String) throws {
        guard summary.number(at: key) == nil else { return }
        let keys = numeric(summary)
        let hint =
            ConfigReader.closest(key, in: keys).map { "; did you mean '\($0)'?" }
            ?? "; see docs/output.md for the summary keys"
        throw HandoffError.input("'\(key)' is not a numeric summary key\(hint)", field: field)
    }
}

/// A bound on a summary metric: `latency_ms.e2el.p99<=30000`, `accuracy.predicted>=0.4`.
public struct MetricConstraint: Sendable, Equatable, CustomStringConvertible {
    public enum Relation: String, Sendable {
        case le = "<="
        case ge = ">="
        case lt = "<"
        case gt = ">"
    }
    public var key: String
    public var relation: Relation
    public var bound: Double

    public static func parse(_ text: String, field: String = "--constraint") throws -> MetricConstraint {
        let t = text.replacingOccurrences(of: " ", with: "")
        for rel in [Relation.le, .ge, .lt, .gt] {
            guard let r = t.range(of: rel.rawValue) else { continue }
            let key = String(t[..<r.lowerBound])
            let raw = String(t[r.upperBound...])
            guard !key.isEmpty else {
                throw HandoffError.input("no metric before '\(rel.rawValue)' in '\(text)'", field: field)
            }
            guard let b = Double(raw), b.isFinite else {
                throw HandoffError.input("the bound '\(raw)' of '\(text)' is not a number", field: field)
            }
            return MetricConstraint(key: key, relation: rel, bound: b)
        }
        throw HandoffError.input(
            "expected metric<=bound or metric>=bound (e.g. 'latency_ms.e2el.p99<=30000'), got '\(text)'", field: field)
    }

    /// Signed distance into the feasible side: ≥ 0 (> 0 for strict bounds) when satisfied.
    public func margin(_ summary: JSONValue) -> Double {
        guard let v = summary.number(at: key) else { return -.infinity }
        switch relation {
        case .le, .lt: return bound - v
        case .ge, .gt: return v - bound
        }
    }

    /// Every bound holds, every request was served and the run reached a steady state: a
    /// configuration that failed or rejected requests meets nothing, since its percentiles cover
    /// only the requests it kept, and an overloaded or too short one meets nothing, since its
    /// percentiles depend on the length of the run.
    public static func allMet(_ constraints: [MetricConstraint], by summary: JSONValue) -> Bool {
        SummaryKeys.servedAll(summary) && SummaryKeys.steady(summary)
            && constraints.allSatisfy { $0.satisfied(summary) }
    }

    public func satisfied(_ summary: JSONValue) -> Bool {
        let m = margin(summary)
        return relation == .lt || relation == .gt ? m > 0 : m >= 0
    }

    public var description: String { "\(key)\(relation.rawValue)\(JSONWriter.number(bound))" }
}

/// What `tune` optimises: `cost`, `latency`, `ttft`, `accuracy`, `throughput`, or `min:KEY` / `max:KEY`.
public struct Objective: Sendable, Equatable, CustomStringConvertible {
    public var key: String
    public var maximize: Bool

    public static func parse(_ text: String) throws -> Objective {
        switch text {
        case "cost": return Objective(key: "cost_usd.per_1k_requests", maximize: false)
        case "latency": return Objective(key: "latency_ms.e2el.p99", maximize: false)
        case "ttft": return Objective(key: "latency_ms.ttft.p99", maximize: false)
        case "accuracy": return Objective(key: "accuracy.predicted", maximize: true)
        case "throughput": return Objective(key: "throughput_rps", maximize: true)
        default:
            if text.hasPrefix("min:") { return Objective(key: String(text.dropFirst(4)), maximize: false) }
            if text.hasPrefix("max:") { return Objective(key: String(text.dropFirst(4)), maximize: true) }
            throw HandoffError.input(
                "expected cost, latency, ttft, accuracy, throughput, min:KEY or max:KEY, got '\(text)'",
                field: "--objective")
        }
    }

    public init(key: String, maximize: Bool) {
        self.key = key
        self.maximize = maximize
    }

    /// The pseudo-key of the billed GPU count (`min:gpus`), which the summary does not carry.
    public static let gpusKey = "gpus"

    /// The value to minimise.
    public func loss(_ summary: JSONValue) -> Double {
        guard let v = summary.number(at: key) else { return .infinity }
        return maximize ? -v : v
    }

    public var description: String { (maximize ? "max " : "min ") + key }
}
