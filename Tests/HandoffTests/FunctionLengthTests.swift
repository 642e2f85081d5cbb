import Foundation
import XCTest

/// No function of the library runs much past a screen. A function starts at a `func` or `init`
/// line and ends at the first later line that closes a brace at its indentation (swift-format's
/// layout, which scripts/format keeps); lines are counted from one to the other. The limit is 80,
/// the length of a screen.
final class FunctionLengthTests: XCTestCase {
    static let limit = 80
    static let libraryTargets = ["HandoffSupport", "HandoffModel", "HandoffSim", "HandoffAnalysis", "HandoffEngine"]
    /// Generated tables, not code.
    static let generated: Set<String> = ["Catalog+Data.swift", "DefaultScenario.swift"]

    /// (first line, lines, name) of each function in `text` longer than `limit`.
    static func longFunctions(_ text: String, limit: Int) -> [(line: Int, length: Int, name: String)] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try! NSRegularExpression(
            pattern:
                #"^(\s*)(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|package|private|fileprivate|internal|static|mutating|override|final|nonisolated|convenience)\s+)*(func\s+[^\s(<]+|init\??)[\s(<]"#
        )
        var out: [(Int, Int, String)] = []
        for (i, l) in lines.enumerated() {
            guard let m = start.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) else { continue }
            let indent = String(l[Range(m.range(at: 1), in: l)!])
            let name = String(l[Range(m.range(at: 2), in: l)!])
            guard let end = lines[(i + 1)...].firstIndex(where: { $0.hasPrefix(indent + "}") }) else { continue }
            if end - i + 1 > limit { out.append((i + 1, end - i + 1, name)) }
        }
        return out
    }

    func testNoLibraryFunctionIsLongerThanTheLimit() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        var files = 0
        for target in Self.libraryTargets {
            let dir = sources.appendingPathComponent(target)
            for f in FileManager.default.enumerator(atPath: dir.path)?.compactMap({ $0 as? String }) ?? []
            where f.hasSuffix(".swift") && !Self.generated.contains(URL(fileURLWithPath: f).lastPathComponent) {
                let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
                for long in Self.longFunctions(text, limit: Self.limit) {
                    XCTFail(
                        "Sources/\(target)/\(f):\(long.line): \(long.name) has \(long.length) lines (limit \(Self.limit))"
                    )
                }
                files += 1
            }
        }
        XCTAssertGreaterThan(files, 100)
    }

    /// The scan measures what it should: a 5-line function, a long one, a nested one.
    func testTheScanCountsLines() {
        let body = (0..<120).map { "        let x\($0) = \($0)" }.joined(separator: "\n")
        let text = """
            struct S {
                func short() {
                    let a = 1
                    _ = a
                }
                public static func long(_ x: Int) -> Int {
            \(body)
                    return x
                }
            }
            """
        let found = Self.longFunctions(text, limit: 95)
        XCTAssertEqual(found.map(\.name), ["func long"])
        XCTAssertEqual(found.first?.length, 123)
        XCTAssertEqual(found.first?.line, 6)
    }
}
