import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// The files `handoff closed-loop` writes besides `closed-loop.json`: the fitted model (YAML), a
/// README table and an HTML page with inline SVG charts of measured against predicted per
/// threshold.
public enum ClosedLoopReport {
    public static func modelYAML(_ m: ClosedLoopModel) -> String {
        """
        # Closed-loop model of splitreason run live, fitted by `handoff closed-loop` (docs/closed-loop.md).
        fitted_on: \(JSONWriter.quote(m.fittedOn))
        crossing_factor: \(JSONWriter.number(m.crossingFactor))      # kappa: post-handoff crossing rate = kappa * q(tau) + epsilon
        crossing_floor: \(JSONWriter.number(m.crossingFloor))       # epsilon
        length_response: \(JSONWriter.number(m.lengthResponse))      # lambda: scales the mixed part's interpolated length
        accuracy_exponent: \(JSONWriter.number(m.accuracyExponent))  # gamma: p = s + (l - s) * omega^gamma
        max_tokens: \(m.maxTokens)

        """
    }

    static let keys = [
        "accuracy", "offload.token_fraction", "handoffs_per_request", "output_tokens_per_request",
        "latency_ms.ttft.p50", "latency_ms.e2el.p50", "latency_ms.e2el.p95", "throughput_rps"
    ]

    static func f(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "—" }
        return String(format: abs(x) >= 100 ? "%.0f" : abs(x) >= 1 ? "%.2f" : "%.3f", x)
    }

    static func value(_ xs: [(String, Double)], _ k: String) -> Double? { xs.first { $0.0 == k }?.1 }

    /// Relative error of a prediction, %.
    static func err(_ p: Double?, _ m: Double?) -> String {
        guard let p, let m, m != 0 else { return "—" }
        return String(format: "%+.0f%%", (p - m) / m * 100)
    }

    public static func table(_ cells: [ClosedLoopValidation.Cell]) -> String {
        var s = "conc  tau    held  metric                      measured  predicted  replay  trace_only\n"
        for c in cells {
            for k in keys {
                let replayKey = [
                    "latency_ms.ttft.p50": "ttft_ms.p50", "latency_ms.e2el.p50": "e2el_ms.p50",
                    "latency_ms.e2el.p95": "e2el_ms.p95", "throughput_rps": "throughput_rps"
                ][k]
                let replay = replayKey.flatMap { rk in c.report.rows.first { $0.metric == rk }?.predicted }
                s +=
                    String(c.concurrency).padding(toLength: 6, withPad: " ", startingAt: 0)
                    + JSONWriter.number(c.threshold).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + (c.heldOut ? "yes" : "fit").padding(toLength: 6, withPad: " ", startingAt: 0)
                    + k.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + f(value(c.measured, k)).leftPad(10) + f(value(c.predicted, k)).leftPad(11) + f(replay).leftPad(8)
                    + f(value(c.traceOnly, k)).leftPad(12) + "\n"
            }
        }
        return s
    }

    public static func markdown(
        model m: ClosedLoopModel, cells: [ClosedLoopValidation.Cell], command: String, load: String? = nil
    ) -> String {
        var s = """
            # Closed-loop fidelity: Qwen2.5-Coder 0.5B → 1.5B, live

            Made by `\(command)`.

            Fitted model (`closed-loop-model.yaml`, docs/closed-loop.md): crossing factor κ = \(f(m.crossingFactor)), floor ε = \(String(format: "%.4f", m.crossingFloor)), length response
            λ = \(f(m.lengthResponse)), accuracy exponent γ = \(f(m.accuracyExponent)); fitted on \(m.fittedOn).

            **predicted** is what a user gets from the recorded small-only trace and its labels alone, through the fitted model
            (offload, handoffs and latency: medians over \(ClosedLoopValidation.replications) replications of trajectories sampled from it);
            **replay** simulates the realised streams (the serving model's error alone); **trace only** is the prediction with no
            closed-loop model. Accuracy intervals are 95% Poisson–binomial prediction intervals for the measured accuracy.

            Machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(load.map { "during the requests of the last invocation that ran any, " + $0 } ?? "no load reading (the cells were journaled by a version of Handoff that kept none)").
            Per-request E2EL error of the replay (the serving model alone) is in `closed-loop.json` (`replay.e2el_per_request_median_abs_error_pct`).
            **speed now** is each server's batch-1 decode probe just before the cell ran, over what its calibration says
            (small / large; above 1 the server was slower than calibrated; `speed_probe` in `closed-loop.json`); **at probed
            speed** is the prediction with each latency law scaled by that ratio (`predicted_speed_adjusted`), a diagnostic of
            how much of a latency miss is the machine's speed moving since calibration.

            """
        s += "\n" + mainTable(cells) + "\n" + findings(cells) + "\n" + spreadTable(cells)
        s += "\nPer cell, every metric (`closed-loop.json` has the same figures):\n\n```\n\(table(cells))```\n"
        return s
    }

    /// One row per cell: accuracy, offload (relative errors beside), length, E2EL p50 with its
    /// interval over the sampled trajectories, the replay, the speed probes.
    static func mainTable(_ cells: [ClosedLoopValidation.Cell]) -> String {
        var s = """
            | conc. | τ | split | accuracy meas. | pred. [95%] | offload meas. | pred. | trace only | out tok/req meas. | pred. | E2EL p50 ms meas. | pred. [95% over trajectories] | replay | speed now | at probed speed |
            |---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|

            """
        for c in cells {
            let ci = c.accuracyCI95.map { " [\(f($0.0))–\(f($0.1))]" } ?? ""
            let replay = c.report.rows.first { $0.metric == "e2el_ms.p50" }?.predicted
            let off = value(c.measured, "offload.token_fraction")
            let e2el = value(c.measured, "latency_ms.e2el.p50")
            let pi = c.predictedPI95["latency_ms.e2el.p50"].map { " [\(f($0.0))–\(f($0.1))]" } ?? ""
            s += "| \(c.concurrency) | \(JSONWriter.number(c.threshold)) | \(c.heldOut ? "held out" : "fit") "
            s += "| \(f(value(c.measured, "accuracy"))) | \(f(value(c.predicted, "accuracy")))\(ci) "
            s += "| \(f(off)) | \(f(value(c.predicted, "offload.token_fraction"))) (\(err(value(c.predicted, "offload.token_fraction"), off))) "
            s += "| \(f(value(c.traceOnly, "offload.token_fraction"))) (\(err(value(c.traceOnly, "offload.token_fraction"), off))) "
            s +=
                "| \(f(value(c.measured, "output_tokens_per_request"))) | \(f(value(c.predicted, "output_tokens_per_request"))) "
            s += "| \(f(e2el)) | \(f(value(c.predicted, "latency_ms.e2el.p50"))) (\(err(value(c.predicted, "latency_ms.e2el.p50"), e2el)))\(pi) | \(f(replay)) "
            s +=
                "| "
                + c.roles.map { c.speed[$0].map { String(format: "%.2f", $0.ratio) } ?? "—" }.joined(
                    separator: " / ")
            s +=
                " | \(f(c.speedAdjustedE2ELP50))\(c.speedAdjustedE2ELP50 == nil ? "" : " (\(err(c.speedAdjustedE2ELP50, e2el)))") |\n"
        }
        return s
    }

    /// In words: how often accuracy and E2EL p50 land in their intervals, and the offload error at low shares against the
    /// trace-only plan.
    static func findings(_ cells: [ClosedLoopValidation.Cell]) -> String {
        func covered(_ c: ClosedLoopValidation.Cell) -> Bool {
            guard let m = value(c.measured, "latency_ms.e2el.p50"), let pi = c.predictedPI95["latency_ms.e2el.p50"] else {
                return false
            }
            return pi.0 <= m && m <= pi.1
        }
        func accuracyCovered(_ c: ClosedLoopValidation.Cell) -> Bool {
            guard let m = value(c.measured, "accuracy"), let ci = c.accuracyCI95 else { return false }
            return ci.0 - 1e-9 <= m && m <= ci.1 + 1e-9
        }
        let held = cells.filter(\.heldOut)
        var s = """
            - **Accuracy inside its 95% prediction interval** in \(cells.filter(accuracyCovered).count) of \
            \(cells.count) cells (held out: \(held.filter(accuracyCovered).count) of \(held.count)).
            - **E2EL p50 inside the predicted interval** in \(cells.filter(covered).count) of \(cells.count) cells \
            (held out: \(held.filter(covered).count) of \(held.count)). The interval is the 2.5–97.5% range of the p50 over \
            \(ClosedLoopValidation.replications) replications of sampled trajectories: the trajectories' randomness only, not the \
            serving model's error nor the host's drift (compare the replay column).

            """
        let low = cells.filter { (value($0.measured, "offload.token_fraction") ?? 1) < 0.05 }
        guard !low.isEmpty else { return s }
        func relErr(_ xs: (ClosedLoopValidation.Cell) -> [(String, Double)]) -> Double {
            low.reduce(0) { acc, c in
                let m = value(c.measured, "offload.token_fraction")!
                return acc + abs((value(xs(c), "offload.token_fraction") ?? 0) - m) / max(1e-9, m)
            } / Double(low.count)
        }
        let model = relErr(\.predicted)
        let trace = relErr(\.traceOnly)
        s += "- **Below 5% offload** (\(low.count) cell\(low.count == 1 ? "" : "s")) the closed-loop model's offload is off by \(String(format: "%.0f", model * 100))% "
        s += "of the measured share on average, the trace-only plan's by \(String(format: "%.0f", trace * 100))%"
        s +=
            model < trace
            ? ".\n"
            : ": **the closed-loop model does not beat planning on the trace alone there**; use the trace-only column.\n"
        return s
    }

    /// The trajectories' spread, measured on the live streams and on the model's sampled ones
    /// (`TrajectorySpread`; docs/closed-loop.md, "What the journals show").
    static func spreadTable(_ cells: [ClosedLoopValidation.Cell]) -> String {
        var s = """
            How the trajectories spread (measured on the live streams / on the model's sampled streams, all replications): \
            requests that crossed τ; the segment share after the first crossing (p10, p50, p90); the small runs between \
            segments (mean ± sd; a geometric law's sd at that mean) and the share of them at most 1 token long (an \
            immediate re-crossing); the crossing rate after the first segment; and X²/df of the per-request crossing counts \
            (1: every request crosses at the same rate).

            | conc. | τ | crossed | segment share p10 / p50 / p90 | small run mean ± sd (geometric sd) | runs ≤ 1 | crossing rate | X²/df |
            |---:|---:|---:|---:|---:|---:|---:|---:|

            """
        func share(_ t: TrajectorySpread) -> String { t.share.map { String(format: "%.2f", $0) }.joined(separator: " / ") }
        func run(_ t: TrajectorySpread) -> String { String(format: "%.1f ± %.1f (%.1f)", t.runMean, t.runSD, t.geometricSD) }
        for c in cells {
            guard let (m, p) = c.spread else { continue }
            s += "| \(c.concurrency) | \(JSONWriter.number(c.threshold)) "
            s += String(format: "| %.0f%% / %.0f%% ", 100 * Double(m.crossed) / Double(max(1, m.requests)), 100 * Double(p.crossed) / Double(max(1, p.requests)))
            s += "| \(share(m)) — \(share(p)) | \(run(m)) — \(run(p)) "
            s += String(format: "| %.0f%% / %.0f%% ", 100 * m.shortRuns, 100 * p.shortRuns)
            s += String(format: "| %.4f / %.4f | %.2f / %.2f |\n", m.crossingRate, p.crossingRate, m.dispersion, p.dispersion)
        }
        return s
    }

    public static func html(
        model m: ClosedLoopModel, cells: [ClosedLoopValidation.Cell], command: String, load: String? = nil
    ) -> String {
        var charts = ""
        for c in Array(Set(cells.map(\.concurrency))).sorted() {
            let cs = cells.filter { $0.concurrency == c }.sorted { $0.threshold < $1.threshold }
            for (k, title) in [
                ("accuracy", "Accuracy"), ("offload.token_fraction", "Offload token share"),
                ("latency_ms.e2el.p50", "E2EL p50 (ms)")
            ] {
                func pts(_ xs: (ClosedLoopValidation.Cell) -> [(String, Double)]) -> [(Double, Double)] {
                    cs.compactMap { cell in value(xs(cell), k).map { (cell.threshold, $0) } }
                }
                let chart = SVGChart(title: "\(title), concurrency \(c)", xLabel: "offload threshold τ", yLabel: title)
                charts += chart.lines(
                    [
                        SVGChart.Series(name: "measured", points: pts(\.measured)),
                        SVGChart.Series(name: "predicted (closed-loop model)", points: pts(\.predicted), dashed: true),
                        SVGChart.Series(name: "trace only", points: pts(\.traceOnly), dashed: true)
                    ], yFromZero: true)
            }
        }
        let md = markdown(model: m, cells: cells, command: command, load: load)
        let table = htmlTables(md)
        return """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>Closed-loop fidelity: Qwen2.5-Coder 0.5B → 1.5B</title>
            <style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}svg{margin:6px}</style></head>
            <body><h1>Closed-loop fidelity: Qwen2.5-Coder 0.5B → 1.5B, live</h1>
            <p>Made by <code>\(SVGChart.esc(command))</code>. Fitted κ = \(f(m.crossingFactor)), ε = \(String(format: "%.4f", m.crossingFloor)), λ = \(f(m.lengthResponse)), γ = \(f(m.accuracyExponent)) on \(SVGChart.esc(m.fittedOn)).</p>
            \(charts)
            \(table)
            </body></html>

            """
    }

    /// One HTML `<table>` per markdown table of `md` (runs of lines starting with "|", separator rows
    /// dropped), cells escaped; the tables separated by an empty paragraph.
    static func htmlTables(_ md: String) -> String {
        // One <table> per markdown table: runs of lines starting with "|", separator rows dropped.
        var tables: [[Substring]] = []
        var last = false
        for line in md.split(separator: "\n", omittingEmptySubsequences: false) {
            let row = line.hasPrefix("|")
            if row && !last { tables.append([]) }
            if row && !line.hasPrefix("|---") { tables[tables.count - 1].append(line) }
            last = row
        }
        return tables.map { rows in
            "<table>\n"
                + rows.enumerated().map { k, line -> String in
                    let tag = k == 0 ? "th" : "td"
                    return "<tr>"
                        + line.split(separator: "|").map {
                            "<\(tag)>\(SVGChart.esc(String($0).trimmingCharacters(in: .whitespaces)))</\(tag)>"
                        }.joined() + "</tr>"
                }.joined(separator: "\n") + "\n</table>"
        }.joined(separator: "\n<p></p>\n")
    }
}
