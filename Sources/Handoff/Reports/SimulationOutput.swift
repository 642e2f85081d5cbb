import Foundation

/// Writes a simulation's outputs.
public enum SimulationOutput {
    public static func requestsCSV(_ r: SimulationResult) -> String {
        var out = "id,arrival_s,ttft_ms,tpot_ms,e2el_ms,output_tokens,offloaded_tokens,handoffs,failed\n"
        for q in r.outcome.requests {
            out += [CSV.escape(q.id), JSONWriter.number(q.arrivalS), JSONWriter.number(q.ttftS * 1000), JSONWriter.number(q.tpotS * 1000),
                    JSONWriter.number(q.e2elS * 1000), String(q.outputTokens), String(q.offloadedTokens), String(q.handoffs),
                    q.failed ? "true" : "false"].joined(separator: ",") + "\n"
        }
        return out
    }

    /// The summary flattened to dotted keys, in document order.
    public static func flatten(_ v: JSONValue, prefix: String = "") -> [(String, String)] {
        switch v {
        case .object(let pairs): return pairs.flatMap { flatten($0.1, prefix: prefix.isEmpty ? $0.0 : prefix + "." + $0.0) }
        case .numbers(let xs): return xs.enumerated().map { (prefix + "." + String($0.offset), JSONWriter.number($0.element)) }
        case .number(let x): return [(prefix, JSONWriter.number(x))]
        case .string(let s): return [(prefix, s)]
        case .bool(let b): return [(prefix, b ? "true" : "false")]
        case .null: return [(prefix, "")]
        case .array(let items): return items.enumerated().flatMap { flatten($0.element, prefix: prefix + "." + String($0.offset)) }
        }
    }

    /// Header row and one value row.
    public static func summaryCSV(_ r: SimulationResult) -> String {
        let flat = flatten(r.summary)
        return flat.map { CSV.escape($0.0) }.joined(separator: ",") + "\n" + flat.map { CSV.escape($0.1) }.joined(separator: ",") + "\n"
    }

    public static func table(_ r: SimulationResult) -> String {
        let s = r.summary
        func num(_ path: String) -> Double {
            var v: JSONValue? = s
            for p in path.split(separator: ".") { v = v?[String(p)] }
            if case let .number(x)? = v { return x }
            return .nan
        }
        var out = "Scenario \(r.scenario.name) · policy \(r.scenario.policy.name) · seed \(r.scenario.seed)\n"
        out += String(format: "requests %.0f (failed %.0f) in %.1f s simulated: %.3f req/s, %.1f output tok/s\n",
                      num("requests"), num("requests_failed"), num("duration_s"), num("throughput_rps"), num("output_tokens_per_s"))
        out += "\nlatency (ms)        mean        p50        p90        p95        p99\n"
        for k in ["ttft", "tpot", "e2el"] {
            out += k.padding(toLength: 12, withPad: " ", startingAt: 0)
            for q in ["mean", "p50", "p90", "p95", "p99"] { out += String(format: " %10.1f", num("latency_ms.\(k).\(q)")) }
            out += "\n"
        }
        out += String(format: "\noffload: %.2f%% of tokens, %.2f handoffs/request\n", 100 * num("offload.token_fraction"), num("offload.handoffs_per_request"))
        for t in r.scenario.tiers where t.kind == .gpu {
            out += String(format: "memory %@: peak %.1f / %.0f GiB (%@), utilisation %.0f%%\n", t.name, num("memory_gib.\(t.name).peak"),
                          num("memory_gib.\(t.name).capacity"), s["memory_gib"]?[t.name]?["fits"] == .bool(true) ? "fits" : "DOES NOT FIT",
                          100 * num("utilization.\(t.name)"))
        }
        out += String(format: "cost: $%.4f total, $%.4f per 1k requests\n", num("cost_usd.total"), num("cost_usd.per_1k_requests"))
        if let a = r.accuracy {
            out += String(format: "accuracy: %.3f predicted (95%% CI %.3f–%.3f; small-only %.3f, large-only %.3f; %d labelled)\n",
                          a.predicted, a.ci95.0, a.ci95.1, a.smallOnly, a.largeOnly, a.labeled)
        } else { out += "accuracy: no outcome labels in the trace\n" }
        return out
    }

    public static func reportMarkdown(_ r: SimulationResult) -> String {
        var md = "# Handoff simulation: \(r.scenario.name)\n\n"
        if !r.scenario.description.isEmpty { md += r.scenario.description + "\n\n" }
        md += "Policy `\(r.scenario.policy.name)`, seed \(r.scenario.seed). Made by `handoff simulate`.\n\n"
        md += "## Summary\n\n| metric | value |\n|---|---|\n"
        for (k, v) in flatten(r.summary) { md += "| `\(k)` | \(v) |\n" }
        md += "\n## Scenario\n\n```yaml\n" + r.scenario.source.yaml() + "```\n"
        return md
    }

    /// The files `write` puts in its directory.
    public static let fileNames: Set<String> = ["summary.json", "requests.csv", "report.md"]

    /// Writes summary.json, requests.csv and report.md as the directory `dir`, atomically
    /// (`FileIO.writeDirectoryAtomically`: built aside, then renamed).
    public static func write(_ r: SimulationResult, to dir: String) throws {
        try FileIO.writeDirectoryAtomically(dir, ownNames: fileNames) { d in
            try FileIO.put(JSONWriter.write(r.summary, pretty: true) + "\n", in: d, "summary.json")
            try FileIO.put(requestsCSV(r), in: d, "requests.csv")
            try FileIO.put(reportMarkdown(r), in: d, "report.md")
        }
    }
}
