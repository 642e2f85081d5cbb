import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff whatif`: every combination of the varied fields against the baseline scenario, as
/// deltas of the metrics a budget review asks about. Configurations run on all cores; the same
/// seed (common random numbers) makes each delta the effect of the change, not sampling noise.
public struct WhatIf: Sendable {
    public static let defaultMetrics = [
        "throughput_rps", "latency_ms.ttft.p99", "latency_ms.e2el.p99", "cost_usd.per_1k_requests",
        "cost_usd.total", "accuracy.predicted", "offload.token_fraction", "requests_failed"
    ]
    public let family: ScenarioFamily
    public let grid: Grid
    public let metrics: [String]

    public init(family: ScenarioFamily, grid: Grid, metrics: [String] = WhatIf.defaultMetrics) throws {
        self.family = family
        self.grid = grid
        self.metrics = metrics
        let base = try family.summary()
        // The defaults are summary keys; one may be null (accuracy.predicted without labels): a "—".
        for m in metrics where !Self.defaultMetrics.contains(m) { try SummaryKeys.check(m, in: base, field: "--metric") }
        for a in grid.axes { try family.check(a.path, values: a.values, field: "--vary \(a.path)") }
    }

    /// Baseline summary and one summary per configuration, in grid order.
    public func run(jobs: Int) throws -> (baseline: JSONValue, rows: [JSONValue]) {
        let baseline = try family.summary()
        let rows = try Parallel.map(grid.count, jobs: jobs) { k in
            try family.summary(grid.configuration(k).map { "\($0.path)=\($0.value)" })
        }
        return (baseline, rows)
    }

    /// A metric of a variant against the baseline: the value, the difference and the difference
    /// as a % of |baseline| (nil when the baseline is 0 or a value is missing).
    public struct Delta {
        public var value: Double?
        public var delta: Double?
        public var percent: Double?
    }

    public static func delta(_ metric: String, of row: JSONValue, against baseline: JSONValue) -> Delta {
        let v = row.number(at: metric)
        let b = baseline.number(at: metric)
        let d = v.flatMap { v in b.map { v - $0 } }
        return Delta(value: v, delta: d, percent: d.flatMap { d in b.flatMap { $0 != 0 ? 100 * d / abs($0) : nil } })
    }

    /// Stable keys (docs/tuning.md): `whatif`, `baseline`, `rows[].{config, metrics.<key>.{value, delta, delta_pct}}`.
    public func json(baseline: JSONValue, rows: [JSONValue]) -> JSONValue {
        .object([
            (
                "whatif",
                .object([
                    ("scenario", .string(family.origin)), ("set", .array(family.baseOverrides.map { .string($0) })),
                    ("vary", .array(grid.axes.map { .string("\($0.path)=\($0.values.joined(separator: ","))") }))
                ])
            ),
            ("baseline", .object(metrics.map { ($0, baseline.number(at: $0).map(JSONValue.number) ?? .null) })),
            (
                "rows",
                .array(
                    rows.enumerated().map { k, s in
                        .object([
                            ("config", .object(grid.configuration(k).map { ($0.path, .string($0.value)) })),
                            (
                                "metrics",
                                .object(
                                    metrics.map { m in
                                        let d = Self.delta(m, of: s, against: baseline)
                                        return (
                                            m,
                                            .object([
                                                ("value", d.value.map(JSONValue.number) ?? .null),
                                                ("delta", d.delta.map(JSONValue.number) ?? .null),
                                                ("delta_pct", d.percent.map(JSONValue.number) ?? .null)
                                            ])
                                        )
                                    })
                            )
                        ])
                    })
            )
        ])
    }
}
