import Foundation
import HandoffSupport

/// The three kinds of chart: lines, a scatter with labelled highlights, grouped bars.
extension SVGChart {
    /// Lines through each series' points (sorted by x); a muted series is grey crosses, unjoined.
    public func lines(_ series: [Series], yFromZero: Bool = false, marks: [Mark] = []) -> String {
        let markXs = marks.compactMap { if case .x(let v, _) = $0 { return v } else { return nil } }
        let markYs = marks.compactMap { if case .y(let v, _) = $0 { return v } else { return nil } }
        let xr = Self.range(series.flatMap { $0.points.map(\.0) } + markXs, minRelativeSpan: 0)
        let yr = Self.range(series.flatMap { $0.points.map(\.1) } + markYs, zero: yFromZero)
        let p = plot(xr, yr)
        var colour = 0
        let styled = series.map { s -> (Series, String) in
            guard !s.muted else { return (s, Self.muted) }
            defer { colour += 1 }
            return (s, Self.palette[colour % Self.palette.count])
        }
        let legend = series.count > 1 || series.contains(where: \.muted) ? styled.map { ($0.0.name, $0.1, $0.0.dashed) } : []
        return frame(p, legend: legend, marks: marks) { c in
            for (s, color) in styled {
                let pts = s.points.filter { $0.0.isFinite && $0.1.isFinite }.sorted { $0.0 < $1.0 }
                if s.muted {
                    for q in pts {
                        let (x, y) = (p.x(q.0), p.y(q.1))
                        c.raw(String(format: "<path d=\"M%.1f %.1fl6 6m0 -6l-6 6\" stroke=\"%@\" stroke-width=\"1.5\"/>", x - 3, y - 3, color))
                    }
                    continue
                }
                let xy = pts.map { String(format: "%.1f,%.1f", p.x($0.0), p.y($0.1)) }
                c.raw(
                    "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"4 3\"" : "") points=\"\(xy.joined(separator: " "))\"/>"
                )
            }
        }
    }

    /// Points; `highlight[i]` draws point i filled (e.g. the Pareto frontier), `muted[i]` as a grey
    /// cross (not a result), `chosen` ringed. Labels of the chosen point, then of highlighted
    /// points, are placed where they overlap no other label or marker, or left out (each point
    /// keeps a tooltip).
    public func scatter(
        _ points: [(Double, Double)], highlight: [Bool], labels: [String], muted: [Bool]? = nil, chosen: Int? = nil,
        marks: [Mark] = []
    ) -> String {
        let muted = muted ?? points.map { _ in false }
        let xr = Self.range(points.map(\.0))
        let yr = Self.range(points.map(\.1))
        let p = plot(xr, yr)
        var legend: [(name: String, color: String, dashed: Bool)] = [("Pareto frontier", "#d62728", false), ("dominated", "#1f77b4", false)]
        if muted.contains(true) { legend.append(("overloaded: not a result", Self.muted, false)) }
        if chosen != nil { legend.append(("chosen", Self.markColor, false)) }
        return frame(p, legend: legend, marks: marks) { c in
            var where_: [Int: (Double, Double)] = [:]
            for (i, q) in points.enumerated() where q.0.isFinite && q.1.isFinite {
                let (x, y) = (p.x(q.0), p.y(q.1))
                where_[i] = (x, y)
                c.occupy(TextBox(x0: x - 5, y0: y - 5, x1: x + 5, y1: y + 5))
                let tip = "<title>\(Self.esc(labels[i]))</title>"
                if muted[i] {
                    c.raw(String(format: "<path d=\"M%.1f %.1fl7 7m0 -7l-7 7\" stroke=\"%@\" stroke-width=\"1.5\">%@</path>", x - 3.5, y - 3.5, Self.muted, tip))
                } else if highlight[i] {
                    c.raw(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"#d62728\">%@</circle>", x, y, tip))
                } else {
                    c.raw(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"none\" stroke=\"#1f77b4\">%@</circle>", x, y, tip))
                }
                if i == chosen {
                    c.raw(String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"none\" stroke=\"%@\" stroke-width=\"2\"/>", x, y, Self.markColor))
                }
            }
            let order = (chosen.map { [$0] } ?? []) + points.indices.filter { highlight[$0] && $0 != chosen }
            for i in order {
                guard let (x, y) = where_[i] else { continue }
                let text = i == chosen ? "chosen: \(labels[i])" : labels[i]
                c.place(
                    text,
                    candidates: [(x + 9, y - 6, "start"), (x + 9, y + 12, "start"), (x - 9, y - 6, "end"), (x - 9, y + 12, "end")],
                    size: 9, color: i == chosen ? Self.markColor : "#d62728")
            }
        }
    }

    /// Grouped bars per category, with a capacity line each.
    public func bars(categories: [String], values: [(String, [Double])], capacity: [Double]) -> String {
        let all = values.flatMap(\.1) + capacity
        let p = plot((0, 1), (0.0, (all.filter(\.isFinite).max() ?? 1) * 1.15))
        let legend = values.enumerated().map { ($1.0, Self.palette[$0 % Self.palette.count], false) } + [("capacity", "black", true)]
        return frame(p, legend: legend, xTicks: false) { c in
            let groupW = p.width / Double(max(1, categories.count))
            let barW = groupW * 0.7 / Double(max(1, values.count))
            for (k, name) in categories.enumerated() {
                let gx = p.left + Double(k) * groupW + groupW * 0.15
                for (j, (_, vs)) in values.enumerated() {
                    let h = vs[k] / p.yr.1 * p.height
                    c.raw(String(
                        format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"/>",
                        gx + Double(j) * barW, p.top + p.height - h, barW - 2, h, Self.palette[j % Self.palette.count]))
                }
                let cy = p.y(capacity[k])
                c.raw(String(
                    format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>",
                    gx - 4, cy, gx + groupW * 0.7 + 4, cy))
                c.text(name, x: gx + groupW * 0.35, y: p.top + p.height + 15, anchor: "middle")
            }
        }
    }
}
