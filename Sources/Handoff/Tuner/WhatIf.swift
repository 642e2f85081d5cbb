import Foundation

/// `handoff whatif`: every combination of the varied fields against the baseline scenario, as
/// deltas of the metrics a budget review asks about. Configurations run on all cores; the same
/// seed (common random numbers) makes each delta the effect of the change, not sampling noise.
public struct WhatIf: Sendable {
    public static let defaultMetrics = ["throughput_rps", "latency_ms.ttft.p99", "latency_ms.e2el.p99", "cost_usd.per_1k_requests",
                                        "cost_usd.total", "accuracy.predicted", "offload.token_fraction", "requests_failed"]
    public let family: ScenarioFamily
    public let grid: Grid
    public let metrics: [String]

    public init(family: ScenarioFamily, grid: Grid, metrics: [String] = WhatIf.defaultMetrics) throws {
        self.family = family; self.grid = grid; self.metrics = metrics
        let base = try family.summary()
        for m in metrics { try SummaryKeys.check(m, in: base, field: "--metric") }
        for a in grid.axes {
            for v in a.values {
                do { _ = try family.scenario(["\(a.path)=\(v)"]) } catch let e as HandoffError where e.field == nil { throw e.with(field: "--vary \(a.path)") }
            }
        }
    }

    /// Baseline summary and one summary per configuration, in grid order.
    public func run(jobs: Int) throws -> (baseline: JSONValue, rows: [JSONValue]) {
        let baseline = try family.summary()
        let n = grid.count
        let box = ResultBox(n)
        DispatchQueue.concurrentPerform(iterations: max(1, min(jobs, n))) { w in
            var k = w
            while k < n {
                do { box.set(k, try family.summary(grid.configuration(k).map { "\($0.path)=\($0.value)" })) } catch { box.fail(error) }
                k += max(1, min(jobs, n))
            }
        }
        if let e = box.error { throw e }
        return (baseline, box.values.map { $0! })
    }

    /// Stable keys (docs/tuning.md): `whatif`, `baseline`, `rows[].{config, metrics.<key>.{value, delta, delta_pct}}`.
    public func json(baseline: JSONValue, rows: [JSONValue]) -> JSONValue {
        .object([
            ("whatif", .object([("scenario", .string(family.origin)), ("set", .array(family.baseOverrides.map { .string($0) })),
                                ("vary", .array(grid.axes.map { .string("\($0.path)=\($0.values.joined(separator: ","))") }))])),
            ("baseline", .object(metrics.map { ($0, baseline.number(at: $0).map(JSONValue.number) ?? .null) })),
            ("rows", .array(rows.enumerated().map { k, s in
                .object([("config", .object(grid.configuration(k).map { ($0.path, .string($0.value)) })),
                         ("metrics", .object(metrics.map { m in
                             let v = s.number(at: m), b = baseline.number(at: m)
                             let d = v.flatMap { v in b.map { v - $0 } }
                             let pct = d.flatMap { d in b.flatMap { $0 != 0 ? 100 * d / abs($0) : nil } }
                             return (m, .object([("value", v.map(JSONValue.number) ?? .null), ("delta", d.map(JSONValue.number) ?? .null),
                                                 ("delta_pct", pct.map(JSONValue.number) ?? .null)]))
                         }))])
            })),
        ])
    }
}

final class ResultBox: @unchecked Sendable {
    let lock = NSLock()
    var values: [JSONValue?]
    var error: Error?
    init(_ n: Int) { values = Array(repeating: nil, count: n) }
    func set(_ k: Int, _ v: JSONValue) { lock.lock(); values[k] = v; lock.unlock() }
    func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}
