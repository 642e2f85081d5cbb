import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// Minimal self-contained SVG charts (no scripts, no external fonts or files), for reports that
/// open offline: line charts, scatter plots and grouped bars, with "nice" axis ticks
/// (1, 2, 5 × 10^k, after Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990).
public struct SVGChart {
    public struct Series {
        public var name: String
        public var points: [(Double, Double)]
        public var dashed = false
        public init(name: String, points: [(Double, Double)], dashed: Bool = false) {
            self.name = name
            self.points = points
            self.dashed = dashed
        }
    }

    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    let width = 560.0, height = 320.0
    let left = 70.0, right = 20.0, top = 34.0, bottom = 46.0

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    package static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;")
    }

    /// Ticks covering [lo, hi] at a 1/2/5 step.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = (lo / step).rounded(.up) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func label(_ x: Double) -> String {
        if x == 0 { return "0" }
        let a = abs(x)
        if a >= 1e6 || a < 1e-3 { return String(format: "%.1e", x) }
        if a >= 1000 { return String(format: "%.0f", x) }
        return String(format: "%g", (x * 1e4).rounded() / 1e4)
    }

    func frame(
        xr: (Double, Double), yr: (Double, Double), body: String, legend: [(String, String, Bool)], xTicks: Bool = true
    ) -> String {
        let pw = width - left - right
        let ph = height - top - bottom
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s +=
            "<text x=\"\(width / 2)\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(Self.esc(title))</text>\n"
        for t in xTicks ? Self.ticks(xr.0, xr.1) : [] {
            let x = left + (t - xr.0) / (xr.1 - xr.0) * pw
            s +=
                "<line x1=\"\(x)\" y1=\"\(top)\" x2=\"\(x)\" y2=\"\(top + ph)\" stroke=\"#eee\"/><text x=\"\(x)\" y=\"\(top + ph + 15)\" text-anchor=\"middle\">\(Self.label(t))</text>\n"
        }
        for t in Self.ticks(yr.0, yr.1) {
            let y = top + ph - (t - yr.0) / (yr.1 - yr.0) * ph
            s +=
                "<line x1=\"\(left)\" y1=\"\(y)\" x2=\"\(left + pw)\" y2=\"\(y)\" stroke=\"#eee\"/><text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.label(t))</text>\n"
        }
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(left + pw / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(Self.esc(xLabel))</text>\n"
        s +=
            "<text transform=\"translate(14 \(top + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(Self.esc(yLabel))</text>\n"
        s += body
        if !legend.isEmpty {
            s +=
                "<rect x=\"\(left + pw - 156)\" y=\"\(top + 2)\" width=\"152\" height=\"\(Double(legend.count) * 14 + 6)\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n"
        }
        for (k, (name, color, dashed)) in legend.enumerated() {
            let y = top + 12 + Double(k) * 14
            s +=
                "<line x1=\"\(left + pw - 150)\" y1=\"\(y - 4)\" x2=\"\(left + pw - 132)\" y2=\"\(y - 4)\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"4 3\"" : "")/><text x=\"\(left + pw - 128)\" y=\"\(y)\">\(Self.esc(name))</text>\n"
        }
        return s + "</svg>\n"
    }

    static func range(_ v: [Double], zero: Bool = false) -> (Double, Double) {
        let f = v.filter(\.isFinite)
        var lo = f.min() ?? 0
        var hi = f.max() ?? 1
        if zero { lo = min(0, lo) }
        if hi <= lo { hi = lo + max(1, abs(lo) * 0.1) }
        let pad = (hi - lo) * 0.05
        return (zero && lo == 0 ? 0 : lo - pad, hi + pad)
    }

    /// Lines through each series' points (sorted by x).
    public func lines(_ series: [Series], yFromZero: Bool = false) -> String {
        let xr = Self.range(series.flatMap { $0.points.map(\.0) })
        let yr = Self.range(series.flatMap { $0.points.map(\.1) }, zero: yFromZero)
        let pw = width - left - right
        let ph = height - top - bottom
        var body = ""
        for (k, s) in series.enumerated() {
            let c = Self.palette[k % Self.palette.count]
            let pts = s.points.filter { $0.0.isFinite && $0.1.isFinite }.sorted { $0.0 < $1.0 }
                .map {
                    String(
                        format: "%.1f,%.1f", left + ($0.0 - xr.0) / (xr.1 - xr.0) * pw,
                        top + ph - ($0.1 - yr.0) / (yr.1 - yr.0) * ph)
                }
            body +=
                "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"4 3\"" : "") points=\"\(pts.joined(separator: " "))\"/>\n"
        }
        return frame(
            xr: xr, yr: yr, body: body,
            legend: series.count > 1
                ? series.enumerated().map { ($1.name, Self.palette[$0 % Self.palette.count], $1.dashed) } : [])
    }

    /// Points; `highlight[i]` draws point i filled and labelled (e.g. the Pareto frontier).
    public func scatter(_ points: [(Double, Double)], highlight: [Bool], labels: [String]) -> String {
        let xr = Self.range(points.map(\.0))
        let yr = Self.range(points.map(\.1))
        let pw = width - left - right
        let ph = height - top - bottom
        var body = ""
        for (i, p) in points.enumerated() where p.0.isFinite && p.1.isFinite {
            let x = left + (p.0 - xr.0) / (xr.1 - xr.0) * pw
            let y = top + ph - (p.1 - yr.0) / (yr.1 - yr.0) * ph
            if highlight[i] {
                body += String(
                    format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#d62728\"><title>%@</title></circle>", x,
                    y, Self.esc(labels[i]))
                body += String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"#d62728\">%@</text>\n", x + 6, y - 4,
                    Self.esc(labels[i]))
            } else {
                body += String(
                    format:
                        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"none\" stroke=\"#1f77b4\"><title>%@</title></circle>\n",
                    x, y, Self.esc(labels[i]))
            }
        }
        return frame(
            xr: xr, yr: yr, body: body, legend: [("Pareto frontier", "#d62728", false), ("dominated", "#1f77b4", false)]
        )
    }

    /// Grouped horizontal reference: for each category, bars of several values and a capacity line.
    public func bars(categories: [String], values: [(String, [Double])], capacity: [Double]) -> String {
        let all = values.flatMap(\.1) + capacity
        let yr = (0.0, (all.filter(\.isFinite).max() ?? 1) * 1.15)
        let pw = width - left - right
        let ph = height - top - bottom
        var body = ""
        let groupW = pw / Double(max(1, categories.count))
        let barW = groupW * 0.7 / Double(max(1, values.count))
        for (c, name) in categories.enumerated() {
            let gx = left + Double(c) * groupW + groupW * 0.15
            for (k, (_, vs)) in values.enumerated() {
                let h = vs[c] / yr.1 * ph
                body += String(
                    format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>",
                    gx + Double(k) * barW, top + ph - h, barW - 2, h, Self.palette[k % Self.palette.count])
            }
            let cy = top + ph - capacity[c] / yr.1 * ph
            body += String(
                format:
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>",
                gx - 4, cy, gx + groupW * 0.7 + 4, cy)
            body +=
                "<text x=\"\(gx + groupW * 0.35)\" y=\"\(top + ph + 15)\" text-anchor=\"middle\">\(Self.esc(name))</text>\n"
        }
        return frame(
            xr: (0, 1), yr: yr, body: body,
            legend: values.enumerated().map { ($1.0, Self.palette[$0 % Self.palette.count], false) } + [
                ("capacity", "black", true)
            ],
            xTicks: false)
    }
}
