import Foundation
import HandoffSupport

/// What `handoff trace inspect` prints: sizes, length percentiles, the difficulty histogram and
/// the share of tokens above a few thresholds. One pass over the difficulties: O(tokens).
public enum TraceStatistics {
    public static let thresholds: [Double] = [0.5, 0.7, 0.8, 0.9, 0.95]

    public static func compute(_ t: Trace) -> JSONValue {
        var hist = [Double](repeating: 0, count: 10)
        var above = [Double](repeating: 0, count: thresholds.count)
        let d = t.difficulty
        for i in 0..<d.count {
            let x = Double(d[i])
            hist[min(9, Int(d[i] * 10))] += 1  // in Float, so a stored 0.9 falls in 0.9–1.0
            for (k, th) in thresholds.enumerated() where x > th { above[k] += 1 }
        }
        let n = Double(max(1, d.count))
        let outLens = (0..<t.count).map { Double(t.outputTokens($0)) }
        let promptLens = t.requests.map { Double($0.promptTokens) }
        let labeled = t.requests.filter { $0.smallCorrect != nil && $0.largeCorrect != nil }
        func lengths(_ xs: [Double]) -> JSONValue {
            let s = Statistics.summary(xs)
            return .object([
                ("min", .number(xs.min() ?? 0)), ("mean", .number(s.mean)), ("p50", .number(s.p50)),
                ("p90", .number(s.p90)), ("p99", .number(s.p99)), ("max", .number(xs.max() ?? 0))
            ])
        }
        var pairs: [(String, JSONValue)] = [
            ("requests", .number(Double(t.count))),
            ("prompt_tokens", .number(promptLens.reduce(0, +))),
            ("output_tokens", .number(Double(t.totalOutputTokens))),
            ("prompt_length", lengths(promptLens)),
            ("output_length", lengths(outLens)),
            ("difficulty_storage", .string(d.dtype.rawValue)),
            (
                "difficulty_histogram",
                .object(
                    (0..<10).map {
                        (String(format: "%.1f-%.1f", Double($0) / 10, Double($0 + 1) / 10), .number(hist[$0] / n))
                    })
            ),
            (
                "share_above",
                .object(thresholds.enumerated().map { (String($0.element), .number(above[$0.offset] / n)) })
            ),
            ("steps", .number(Double(t.steps.count))),
            ("labeled_requests", .number(Double(labeled.count)))
        ]
        if !labeled.isEmpty {
            pairs.append(
                ("small_accuracy", .number(Double(labeled.filter { $0.smallCorrect! }.count) / Double(labeled.count))))
            pairs.append(
                ("large_accuracy", .number(Double(labeled.filter { $0.largeCorrect! }.count) / Double(labeled.count))))
        }
        return .object(pairs)
    }
}
