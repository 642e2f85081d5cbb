import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// Minimal self-contained SVG charts (no scripts, no external fonts or files), for reports that
/// open offline: line charts, scatter plots and grouped bars, with "nice" axis ticks
/// (1, 2, 5 × 10^k, after Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990).
///
/// Every text goes through `Canvas`, which knows each label's box (`textBox`): the legend sits in
/// its own column right of the plot, never over data; optional labels (a point's, a tick's) are
/// placed where they overlap nothing already drawn, or left out (the point keeps its tooltip).
/// `SVGLayoutTests` checks that no two text boxes of a report overlap.
public struct SVGChart {
    public struct Series {
        public var name: String
        public var points: [(Double, Double)]
        public var dashed = false
        /// Drawn in grey, its points crossed: runs that are not results (overloaded, too short).
        public var muted = false
        public init(name: String, points: [(Double, Double)], dashed: Bool = false, muted: Bool = false) {
            self.name = name
            self.points = points
            self.dashed = dashed
            self.muted = muted
        }
    }

    /// A reference line across the plot: a bound (`y`, e.g. the SLO) or a choice (`x`, e.g. the
    /// chosen threshold), with its label.
    public enum Mark {
        case x(Double, String)
        case y(Double, String)
    }

    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    static let muted = "#9a9a9a"
    static let markColor = "#2a2a2a"
    let plotWidth = 440.0, height = 300.0
    let left = 62.0, right = 14.0, top = 34.0, bottom = 46.0
    /// The legend's column, right of the plot.
    static let legendWidth = 140.0

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

    /// A tick label: 4 significant digits, plain notation.
    static func label(_ x: Double) -> String { HumanNumber.format(x) }

    /// The axis range of values `v`: padded by 5%, from 0 when `zero`, and never narrower than
    /// `minRelativeSpan` of the values' magnitude, so a spread within noise (costs flat to the
    /// fourth digit) is drawn flat rather than stretched into a trade-off.
    static func range(_ v: [Double], zero: Bool = false, minRelativeSpan: Double = 0.1) -> (Double, Double) {
        let f = v.filter(\.isFinite)
        var lo = f.min() ?? 0
        var hi = f.max() ?? 1
        if zero { lo = min(0, lo) }
        let floorSpan = minRelativeSpan * max(abs(lo), abs(hi))
        if hi - lo < floorSpan {
            let mid = (hi + lo) / 2
            (lo, hi) = (mid - floorSpan / 2, mid + floorSpan / 2)
            if zero && lo < 0 && f.allSatisfy({ $0 >= 0 }) { (lo, hi) = (0, hi - lo) }
        }
        if hi <= lo { hi = lo + max(1, abs(lo) * 0.1) }
        let pad = (hi - lo) * 0.05
        return (zero && lo == 0 ? 0 : lo - pad, hi + pad)
    }

    /// The plot's geometry for ranges `xr`, `yr`.
    struct Plot {
        var left, top, width, height: Double
        var xr: (Double, Double), yr: (Double, Double)
        func x(_ v: Double) -> Double { left + (v - xr.0) / (xr.1 - xr.0) * width }
        func y(_ v: Double) -> Double { top + height - (v - yr.0) / (yr.1 - yr.0) * height }
    }

    func plot(_ xr: (Double, Double), _ yr: (Double, Double)) -> Plot {
        Plot(
            left: left, top: top, width: plotWidth - left - right, height: height - top - bottom, xr: xr, yr: yr)
    }

    /// The frame: title, grid and ticks, axes' labels, the body, marks and the legend column.
    /// `draw` adds the body to the canvas after the fixed texts and before the optional ones.
    func frame(
        _ p: Plot, legend: [(name: String, color: String, dashed: Bool)], marks: [Mark] = [], xTicks: Bool = true,
        draw: (Canvas) -> Void
    ) -> String {
        let width = plotWidth + (legend.isEmpty ? 0 : Self.legendWidth)
        let c = Canvas(width: width, height: height)
        c.text(Canvas.fit(title, width: width - 8, size: 13), x: width / 2, y: 18, anchor: "middle", size: 13, bold: true)
        c.text(xLabel, x: p.left + p.width / 2, y: height - 8, anchor: "middle")
        c.rotatedText(yLabel, x: 14, y: p.top + p.height / 2)
        for t in Self.ticks(p.yr.0, p.yr.1) {
            let y = p.y(t)
            c.raw("<line x1=\"\(p.left)\" y1=\"\(y)\" x2=\"\(p.left + p.width)\" y2=\"\(y)\" stroke=\"#eee\"/>")
            c.text(Self.label(t), x: p.left - 6, y: y + 4, anchor: "end", optional: true)
        }
        for t in xTicks ? Self.ticks(p.xr.0, p.xr.1) : [] {
            let x = p.x(t)
            c.raw("<line x1=\"\(x)\" y1=\"\(p.top)\" x2=\"\(x)\" y2=\"\(p.top + p.height)\" stroke=\"#eee\"/>")
            c.text(Self.label(t), x: x, y: p.top + p.height + 15, anchor: "middle", optional: true)
        }
        c.raw("<rect x=\"\(p.left)\" y=\"\(p.top)\" width=\"\(p.width)\" height=\"\(p.height)\" fill=\"none\" stroke=\"#444\"/>")
        for (k, l) in legend.enumerated() {
            let x = plotWidth + 4
            let y = p.top + 12 + Double(k) * 16
            c.raw(
                "<line x1=\"\(x)\" y1=\"\(y - 4)\" x2=\"\(x + 18)\" y2=\"\(y - 4)\" stroke=\"\(l.color)\" stroke-width=\"2\"\(l.dashed ? " stroke-dasharray=\"4 3\"" : "")/>"
            )
            c.text(Canvas.fit(l.name, width: Self.legendWidth - 28, size: 11), x: x + 22, y: y)
        }
        draw(c)
        for m in marks { mark(m, p, c) }
        return c.svg
    }

    /// A dashed reference line with its label inside the plot, where it overlaps nothing.
    func mark(_ m: Mark, _ p: Plot, _ c: Canvas) {
        switch m {
        case .y(let v, let text):
            guard v.isFinite, v >= p.yr.0, v <= p.yr.1 else { return }
            let y = p.y(v)
            c.raw(
                "<line x1=\"\(p.left)\" y1=\"\(y)\" x2=\"\(p.left + p.width)\" y2=\"\(y)\" stroke=\"\(Self.markColor)\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>"
            )
            c.place(text, candidates: [(p.left + 4, y - 4, "start"), (p.left + 4, y + 12, "start"), (p.left + p.width - 4, y - 4, "end"), (p.left + p.width - 4, y + 12, "end")], size: 10, color: Self.markColor)
        case .x(let v, let text):
            guard v.isFinite, v >= p.xr.0, v <= p.xr.1 else { return }
            let x = p.x(v)
            c.raw(
                "<line x1=\"\(x)\" y1=\"\(p.top)\" x2=\"\(x)\" y2=\"\(p.top + p.height)\" stroke=\"\(Self.markColor)\" stroke-width=\"1.5\" stroke-dasharray=\"2 3\"/>"
            )
            let ys = [p.top + 12, p.top + 26, p.top + p.height - 6, p.top + p.height / 2]
            c.place(text, candidates: ys.flatMap { [(x + 4, $0, "start"), (x - 4, $0, "end")] }, size: 10, color: Self.markColor)
        }
    }
}
