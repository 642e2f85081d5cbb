import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffSupport

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The report's charts: no two text boxes overlap, and every one lies inside its chart. Boxes are
/// recomputed from each `<text>` element's own attributes (x, y, anchor, font size, rotation) with
/// `TextBox.of`'s estimate of 0.6 em per character, wider than the average sans-serif glyph.
final class SVGLayoutTests: XCTestCase {
    final class Texts: NSObject, XMLParserDelegate {
        var items: [(text: String, attrs: [String: String])] = []
        var width = 0.0, height = 0.0
        private var current: [String: String]?
        private var chars = ""

        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if name == "svg" {
                width = Double(attributes["width"] ?? "") ?? 0
                height = Double(attributes["height"] ?? "") ?? 0
            }
            if name == "text" {
                current = attributes
                chars = ""
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { if current != nil { chars += string } }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text", let a = current { items.append((chars, a)) }
            if name == "text" { current = nil }
        }
    }

    func boxes(_ svg: String) -> (boxes: [(String, TextBox)], width: Double, height: Double) {
        let t = Texts()
        let p = XMLParser(data: Data(svg.utf8))
        p.delegate = t
        XCTAssertTrue(p.parse())
        let out = t.items.map { item -> (String, TextBox) in
            let a = item.attrs
            let size = Double(a["font-size"] ?? "11") ?? 11
            let anchor = a["text-anchor"] ?? "start"
            if let tr = a["transform"], tr.contains("rotate(-90)") {
                let nums = tr.split(whereSeparator: { !"0123456789.-".contains($0) }).compactMap { Double($0) }
                return (item.text, TextBox.of(item.text, x: nums[0], y: nums[1], anchor: anchor, size: size, rotated: true))
            }
            return (
                item.text,
                TextBox.of(
                    item.text, x: Double(a["x"] ?? "0")!, y: Double(a["y"] ?? "0")!, anchor: anchor, size: size)
            )
        }
        return (out, t.width, t.height)
    }

    func assertLaidOut(_ svg: String, _ name: String) {
        let (bs, w, h) = boxes(svg)
        XCTAssertGreaterThan(bs.count, 5, name)
        for (i, a) in bs.enumerated() {
            XCTAssertTrue(a.1.x0 >= 0 && a.1.x1 <= w && a.1.y0 >= 0 && a.1.y1 <= h, "\(name): '\(a.0)' leaves the chart")
            for b in bs[(i + 1)...] where a.1.overlaps(b.1) {
                XCTFail("\(name): '\(a.0)' overlaps '\(b.0)'")
            }
        }
    }

    /// The default report (21 thresholds, whose Pareto labels used to pile up), and a grid of 101.
    func testNoTwoTextBoxesOverlapInTheDefaultReport() throws {
        for (grid, requests) in [("0:1:0.05", 300), ("0:1:0.01", 100)] {
            let family = try ScenarioFamily(path: nil, overrides: ["trace.synthetic.requests=\(requests)"])
            let values = try GridAxis.parse("policy.offload_threshold=\(grid)").values
            let r = try ThresholdReport.build(family: family, name: "t", thresholds: values, jobs: 2)
            for c in r.charts() { assertLaidOut(c.svg, "\(grid) \(c.file)") }
        }
    }

    /// The layout drops a label rather than overlap: 40 frontier points on one spot keep one label.
    func testCrowdedLabelsAreThinned() {
        var pts: [(Double, Double)] = []
        for k in 0..<40 {
            let d = Double(k) * 1e-4
            pts.append((1 + d, 0.5 + d))
        }
        let svg = SVGChart(title: "t", xLabel: "x", yLabel: "y").scatter(
            pts, highlight: pts.map { _ in true }, labels: pts.indices.map { "τ=0.\($0)" }, chosen: 3)
        assertLaidOut(svg, "crowded")
        let labels = boxes(svg).boxes.filter { $0.0.hasPrefix("τ=") || $0.0.hasPrefix("chosen") }
        XCTAssertTrue(labels.contains { $0.0 == "chosen: τ=0.3" })
        XCTAssertLessThan(labels.count, 10)
    }
}
