import Foundation
import HandoffSupport

/// The axis-aligned box a text takes, for layout.
public struct TextBox: Sendable, Equatable {
    public var x0, y0, x1, y1: Double

    public func overlaps(_ o: TextBox) -> Bool { x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1 }

    /// The box of `text` drawn at (x, y) (its baseline) with `anchor` (start, middle, end) in a
    /// sans-serif font of `size` px: 0.6 em per character (wider than the average glyph of
    /// DejaVu Sans or Helvetica, so the estimate errs towards space), 0.8 em above the baseline
    /// and 0.25 em below. Rotated −90° about (x, y) when `rotated`.
    public static func of(_ text: String, x: Double, y: Double, anchor: String, size: Double, rotated: Bool = false)
        -> TextBox
    {
        let w = 0.6 * size * Double(text.count)
        let shift = anchor == "middle" ? w / 2 : anchor == "end" ? w : 0
        if rotated { return TextBox(x0: x - 0.8 * size, y0: y - w + shift, x1: x + 0.25 * size, y1: y + shift) }
        return TextBox(x0: x - shift, y0: y - 0.8 * size, x1: x - shift + w, y1: y + 0.25 * size)
    }
}

extension SVGChart {
    /// An SVG being drawn, with the boxes of the texts (and markers) placed so far.
    final class Canvas {
        let width, height: Double
        private var body = ""
        private(set) var boxes: [TextBox] = []

        init(width: Double, height: Double) {
            self.width = width
            self.height = height
        }

        var svg: String {
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
                + body + "</svg>\n"
        }

        func raw(_ s: String) { body += s + "\n" }

        /// Reserves a box (a marker) that optional texts must not cover.
        func occupy(_ b: TextBox) { boxes.append(b) }

        /// Draws a text; an `optional` one is left out when it would overlap what is drawn.
        @discardableResult
        func text(
            _ s: String, x: Double, y: Double, anchor: String = "start", size: Double = 11, bold: Bool = false,
            color: String? = nil, optional: Bool = false
        ) -> Bool {
            let b = TextBox.of(s, x: x, y: y, anchor: anchor, size: size)
            if optional && (boxes.contains { $0.overlaps(b) } || b.x0 < 0 || b.x1 > width) { return false }
            boxes.append(b)
            body +=
                "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\"\(anchor == "start" ? "" : " text-anchor=\"\(anchor)\"")\(size == 11 ? "" : " font-size=\"\(fmt(size))\"")\(bold ? " font-weight=\"bold\"" : "")\(color.map { " fill=\"\($0)\"" } ?? "")>\(SVGChart.esc(s))</text>\n"
            return true
        }

        func rotatedText(_ s: String, x: Double, y: Double) {
            boxes.append(TextBox.of(s, x: x, y: y, anchor: "middle", size: 11, rotated: true))
            body +=
                "<text transform=\"translate(\(fmt(x)) \(fmt(y))) rotate(-90)\" text-anchor=\"middle\">\(SVGChart.esc(s))</text>\n"
        }

        /// Draws `s` at the first candidate position where it overlaps nothing; false if none.
        @discardableResult
        func place(
            _ s: String, candidates: [(x: Double, y: Double, anchor: String)], size: Double, color: String? = nil
        ) -> Bool {
            for c in candidates where text(s, x: c.x, y: c.y, anchor: c.anchor, size: size, color: color, optional: true) {
                return true
            }
            return false
        }

        /// `s` cut to fit `width` px at `size` (with an ellipsis).
        static func fit(_ s: String, width: Double, size: Double) -> String {
            let n = Int(width / (0.6 * size))
            return s.count <= n ? s : String(s.prefix(max(1, n - 1))) + "…"
        }

        private func fmt(_ x: Double) -> String { String(format: "%.1f", x) }
    }
}
