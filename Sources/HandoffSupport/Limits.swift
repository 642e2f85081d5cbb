import Foundation

/// The largest inputs Handoff accepts, each checked before anything is allocated for it, so a
/// typo or a hostile file gets an exit-2 error instead of exhausting memory. Documented in
/// docs/limits.md; each can be raised with the environment variable named beside it.
public enum Limits {
    /// Output tokens (and prompt tokens) of one request: 2²¹ = 2,097,152, above the longest
    /// context window deployed today (1–2 M tokens). `HANDOFF_MAX_REQUEST_TOKENS`.
    public static let requestTokens = value("HANDOFF_MAX_REQUEST_TOKENS", default: 1 << 21)
    /// Tokens of a trace read into memory (JSONL, 4 bytes each): 2³⁰. Columnar traces are
    /// memory-mapped and not bound by it. `HANDOFF_MAX_TRACE_TOKENS`.
    public static let traceTokens = value("HANDOFF_MAX_TRACE_TOKENS", default: 1 << 30)
    /// Bytes of one JSONL trace line: 256 MiB. `HANDOFF_MAX_LINE_BYTES`.
    public static let lineBytes = value("HANDOFF_MAX_LINE_BYTES", default: 256 << 20)
    /// Values of one `--grid`/`--vary` range, and configurations of a whole grid: 100,000.
    /// `HANDOFF_MAX_CONFIGURATIONS`.
    public static let configurations = value("HANDOFF_MAX_CONFIGURATIONS", default: 100_000)
    /// Bytes of a scenario file: 16 MiB. `HANDOFF_MAX_SCENARIO_BYTES`.
    public static let scenarioBytes = value("HANDOFF_MAX_SCENARIO_BYTES", default: 16 << 20)
    /// Nesting depth of a scenario (maps and lists): 64. Anchors and aliases are never accepted.
    public static let scenarioDepth = value("HANDOFF_MAX_SCENARIO_DEPTH", default: 64)
    /// Requests of a synthetic trace: 10⁸. `HANDOFF_MAX_REQUESTS`.
    public static let requests = value("HANDOFF_MAX_REQUESTS", default: 100_000_000)

    static func value(_ name: String, default d: Int) -> Int {
        guard let s = ProcessInfo.processInfo.environment[name], let v = Int(s), v > 0 else { return d }
        return v
    }

    /// `x` as an Int when it is an integer in `0...limit`; nil otherwise (NaN, infinite, too big).
    public static func integer(_ x: Double, limit: Int) -> Int? {
        guard x.isFinite, x == x.rounded(), x >= 0, x <= Double(limit) else { return nil }
        return Int(x)
    }
}

/// Checked arithmetic for sizes computed from input (release builds use `-Ounchecked`, where an
/// overflowing `*` is undefined behaviour, not a trap).
public enum Checked {
    /// a × b, or nil when it overflows or either is negative.
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        guard a >= 0, b >= 0 else { return nil }
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : r
    }

    /// a + b, or nil when it overflows.
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.addingReportingOverflow(b)
        return o ? nil : r
    }
}
