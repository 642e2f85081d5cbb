import Foundation
import HandoffSupport

/// What a cell measured, in stable keys (`specs-loop.json`'s `measured`).
extension SpecsLoop.Cell {
    public var judged: (right: Int, total: Int) {
        let j = samples.compactMap(\.correct)
        return (j.filter { $0 }.count, j.count)
    }

    /// The measured accuracy's exact 95% interval (Clopper–Pearson): what the sample size resolves.
    public var accuracyCI95: (Double, Double)? {
        let (k, n) = judged
        return n == 0 ? nil : Statistics.clopperPearson(k, n)
    }

    public var measured: [(String, Double)] {
        let n = Double(samples.count)
        func q(_ xs: [Double], _ p: Double) -> Double { Statistics.quantile(sorted: xs.sorted(), p) }
        var out: [(String, Double)] = []
        let (k, total) = judged
        if total > 0 { out.append(("accuracy", Double(k) / Double(total))) }
        let steps = samples.reduce(0) { $0 + $1.steps.count }
        let drafts = samples.reduce(0) { $0 + $1.draftSteps }
        if case .specs(_, let tau, _) = spec.arm {
            let cands = samples.flatMap { $0.steps.compactMap(\.draft).flatMap(\.candidates) }
            out += [
                ("acceptance_rate", drafts == 0 ? 0 : Double(samples.reduce(0) { $0 + $1.acceptedSteps }) / Double(drafts)),
                ("candidate_pass_rate", cands.isEmpty ? 0 : Double(cands.filter { ($0.score ?? 0) >= tau }.count) / Double(cands.count)),
                ("target_step_share", steps == 0 ? 0 : Double(samples.reduce(0) { $0 + $1.targetSteps }) / Double(steps))
            ]
        }
        let span = samples.map { $0.startS + $0.e2elS }.max()! - samples.map(\.startS).min()!
        out += [
            ("steps_per_request", Double(steps) / n),
            ("output_tokens_per_request", Double(samples.reduce(0) { $0 + $1.outputTokens }) / n),
            ("latency_ms.ttft.p50", q(samples.map { $0.ttftS * 1000 }, 0.5)),
            ("latency_ms.e2el.p50", q(samples.map { $0.e2elS * 1000 }, 0.5)),
            ("latency_ms.e2el.p95", q(samples.map { $0.e2elS * 1000 }, 0.95)),
            ("throughput_rps", n / max(span, 1e-9))
        ]
        return out
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [
            ("cell", .string(spec.name)), ("arm", .string(spec.arm.name)), ("width", .number(Double(spec.arm.width))),
            ("concurrency", .number(Double(spec.concurrency))), ("requests", .number(Double(samples.count)))
        ]
        if case .specs(_, let t, let s) = spec.arm {
            o += [("rejection_threshold", .number(t)), ("switch_back_threshold", .number(s))]
        }
        o.append(("held_out", .bool(heldOut)))
        o.append(("measured", .object(measured.map { ($0.0, .number($0.1)) })))
        if let (lo, hi) = accuracyCI95 { o.append(("accuracy_ci95", .numbers([lo, hi]))) }
        if let p = prediction {
            o.append(("predicted_source", .string(p.source)))
            o.append(("predicted", .object(p.values.map { ($0.0, .number($0.1)) })))
            o.append(
                (
                    "predicted_pi95",
                    .object(p.values.compactMap { k, _ in p.pi95[k].map { (k, .numbers([$0.0, $0.1])) } })
                ))
            if !p.replay.isEmpty { o.append(("replay", .object(p.replay.map { ($0.0, .number($0.1)) }))) }
            if let a = p.speedAdjustedE2ELP50 { o.append(("speed_adjusted_e2el_ms_p50", .number(a))) }
        }
        if !speed.isEmpty {
            o.append(
                (
                    "speed",
                    .object(
                        speed.keys.sorted().map { t in
                            (t, .object([("decode_ms", .number(speed[t]!.measuredMs)), ("calibrated_ms", .number(speed[t]!.lawMs))]))
                        })
                ))
        }
        return .object(o)
    }
}
