import HandoffModel
import HandoffSupport

/// The promises every summary keeps (docs/output.md), checked before anything is printed or
/// written: every number finite, latencies ≥ 0 and their percentiles ordered.
///
/// A non-finite number means the scenario's values overflow double precision (an input error,
/// exit 2); a negative or disordered latency would be a simulator bug (exit 1).
public enum SummaryCheck {
    public static func check(_ typed: SimulationSummary, json summary: JSONValue, scenario: Scenario) throws {
        var bad: String?
        walk(summary, "") { key, x in if bad == nil, !x.isFinite { bad = key } }
        if let bad {
            throw HandoffError(
                file: scenario.source.origin,
                "the simulation's \(bad) is not a finite number: the scenario's values are too large to simulate (look for huge bandwidths, sizes, delays or prices)"
            )
        }
        let l = typed.latencyMs
        for (k, p) in [("ttft", l.ttft), ("tpot", l.tpot), ("e2el", l.e2el)] {
            let qs = [p.p50, p.p90, p.p95, p.p99]
            if qs.contains(where: { $0 < 0 }) || p.mean < 0
                || zip(qs, qs.dropFirst()).contains(where: { $0 > $1 + 1e-9 * max(1, abs($1)) })
            {
                throw HandoffError(
                    "internal error: latency_ms.\(k) breaks the output invariants (negative or unordered percentiles: \(qs)); please report it with the scenario",
                    exitCode: 1)
            }
        }
    }

    static func walk(_ v: JSONValue, _ key: String, _ body: (String, Double) -> Void) {
        switch v {
        case .number(let x): body(key, x)
        case .numbers(let xs): for (i, x) in xs.enumerated() { body("\(key)[\(i)]", x) }
        case .array(let a): for (i, x) in a.enumerated() { walk(x, "\(key)[\(i)]", body) }
        case .object(let o): for (k, x) in o { walk(x, key.isEmpty ? k : key + "." + k, body) }
        default: break
        }
    }
}
