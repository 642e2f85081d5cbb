import Foundation
import XCTest

@testable import HandoffSim

/// The layers are targets (Package.swift), and a lower target never imports a higher one. The
/// compiler refuses a cycle, and `swift build --explicit-target-dependency-import-check error`
/// (scripts/test) an undeclared import; this test states the order itself, so that a dependency
/// added to Package.swift in the wrong direction fails too, and it checks the two build facts
/// the split exists for: only HandoffSim is -Ounchecked, only HandoffEngine links libcurl.
final class LayerTests: XCTestCase {
    static let order = ["HandoffSupport", "HandoffModel", "HandoffSim", "HandoffAnalysis", "HandoffEngine", "Handoff"]

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// Every `import` of a package module in `target`'s sources, as (file, line, module).
    static func imports(
        of target: String, in sources: URL = root.appendingPathComponent("Sources")
    ) throws -> [(
        file: String, line: Int, module: String
    )] {
        let dir = sources.appendingPathComponent(target)
        var out: [(String, Int, String)] = []
        let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String } ?? []
        for f in files.sorted() where f.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            for (i, l) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let words = l.split(separator: " ").map(String.init).filter { !$0.hasPrefix("@") }
                guard words.count == 2, words[0] == "import" else { continue }
                out.append(("\(target)/\(f)", i + 1, words[1]))
            }
        }
        return out
    }

    func testNoTargetImportsAHigherOne() throws {
        var checked = 0
        for (level, target) in Self.order.enumerated() {
            for i in try Self.imports(of: target) {
                if let other = Self.order.firstIndex(of: i.module) {
                    XCTAssertLessThan(other, level, "\(i.file):\(i.line) imports \(i.module), a higher layer")
                    checked += 1
                }
                if i.module == "CCurl" { XCTAssertEqual(target, "HandoffEngine", "\(i.file):\(i.line) links libcurl") }
            }
        }
        XCTAssertGreaterThan(checked, 100, "the scan found the library's imports")
    }

    /// Package.swift lists, for each library target, only targets below it.
    func testPackageDeclaresOnlyLowerDependencies() throws {
        let package = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        for (level, target) in Self.order.enumerated() {
            guard let start = package.range(of: #"\.target\(\s*name: "\#(target)""#, options: .regularExpression) else {
                XCTFail("Package.swift has no target \(target)")
                continue
            }
            let rest = package[start.upperBound...]
            let decl = rest[
                ..<(rest.range(of: ".target(")?.lowerBound ?? rest.range(of: ".executableTarget(")!.lowerBound)]
            for (other, name) in Self.order.enumerated() where decl.contains("\"\(name)\"") {
                XCTAssertLessThan(other, level, "Package.swift: \(target) depends on \(name), a higher layer")
            }
            XCTAssertEqual(decl.contains("\"-Ounchecked\""), target == "HandoffSim", "-Ounchecked on \(target)")
        }
        XCTAssertEqual(package.components(separatedBy: "\"-Ounchecked\"").count - 1, 1, "one -Ounchecked target")
    }

    /// The scan itself: an upward import written into a lower layer's file is found.
    func testAnUpwardImportIsFound() throws {
        let sources = FileManager.default.temporaryDirectory.appendingPathComponent("layers-\(getpid())")
        let dir = sources.appendingPathComponent("HandoffModel/Policies")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: sources) }
        try "import Foundation\n@preconcurrency import HandoffSim\n".write(
            to: dir.appendingPathComponent("Probe.swift"), atomically: true, encoding: .utf8)
        let found = try Self.imports(of: "HandoffModel", in: sources)
        XCTAssertEqual(found.map(\.module), ["Foundation", "HandoffSim"])
        XCTAssertEqual(found.last?.line, 2)
    }
}

/// The self-checks' compile-time switch (`InternalCheck.swift`): on in the tests' debug build, and
/// defined for debug builds of HandoffSim only, so release builds carry no checking code.
final class InternalCheckSwitchTests: XCTestCase {
    func testChecksAreCompiledIntoTheTestBuild() {
        XCTAssertTrue(InternalChecks.compiled, "HANDOFF_INTERNAL_CHECKS is off: every invariant test checks nothing")
    }

    func testSwitchIsDefinedForDebugBuildsOnly() throws {
        let manifest = try String(contentsOfFile: packageRoot + "/Package.swift", encoding: .utf8)
        XCTAssert(
            manifest.contains(#".define("HANDOFF_INTERNAL_CHECKS", .when(configuration: .debug))"#),
            "Package.swift must define HANDOFF_INTERNAL_CHECKS for debug builds")
        XCTAssertEqual(manifest.components(separatedBy: "HANDOFF_INTERNAL_CHECKS").count - 1, 1, "defined once")
    }
}
