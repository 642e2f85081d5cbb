import Foundation
import XCTest

@testable import HandoffModel
@testable import HandoffSim

/// A policy owns its mechanics (its execution, what it resolves at load, its closed-loop rule, its
/// live run) through `Policy`'s requirements, so no code outside Sources/HandoffModel/Policies/
/// casts to a concrete policy type or compares a policy's name. This test reads every source file
/// for either.
final class PolicyOwnershipTests: XCTestCase {
    static var sources: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
    }

    /// The concrete policy types: every `struct …: …` declared in Policies/ that conforms to a
    /// policy protocol, read from the files (so a new policy is covered without editing this).
    static func concretePolicyTypes() throws -> [String] {
        let dir = sources.appendingPathComponent("HandoffModel/Policies")
        var out: [String] = []
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) where f.hasSuffix(".swift") {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            let re = try NSRegularExpression(pattern: #"(?m)^public struct (\w+): [^{]*Policy"#)
            for m in re.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                out.append(String(text[Range(m.range(at: 1), in: text)!]))
            }
        }
        return out.sorted()
    }

    /// Lines of `text` that cast to one of `types` or compare with one of `names`.
    static func violations(in text: String, types: [String], names: [String]) -> [(line: Int, text: String)] {
        var out: [(Int, String)] = []
        let typeAlternatives = types.joined(separator: "|")
        let cast = try! NSRegularExpression(pattern: #"\b(as[!?]?|is)\s+(\#(typeAlternatives))\b"#)
        let quoted = names.map { "\"\($0)\"" }
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            let code = line.components(separatedBy: "//").first ?? line
            if cast.firstMatch(in: code, range: NSRange(code.startIndex..., in: code)) != nil {
                out.append((i + 1, line))
                continue
            }
            let comparing =
                code.contains("==") || code.contains("!=") || code.contains("case ") || code.contains(".contains(")
            if comparing && quoted.contains(where: { code.contains($0) }) { out.append((i + 1, line)) }
        }
        return out
    }

    func testNoConcretePolicyCastOrNameComparisonOutsidePolicies() throws {
        let types = try Self.concretePolicyTypes()
        XCTAssert(types.contains("SplitReasonPolicy") && types.contains("SingleTierPolicy"), "\(types)")
        XCTAssertGreaterThanOrEqual(types.count, 8)
        let policies = Self.sources.appendingPathComponent("HandoffModel/Policies").path
        var scanned = 0
        let files = FileManager.default.enumerator(atPath: Self.sources.path)?.compactMap { $0 as? String } ?? []
        for f in files.sorted() where f.hasSuffix(".swift") {
            let path = Self.sources.appendingPathComponent(f).path
            guard !path.hasPrefix(policies + "/") else { continue }
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for v in Self.violations(in: text, types: types, names: PolicyRegistry.names) {
                XCTFail("Sources/\(f):\(v.line): a concrete policy cast or policy-name comparison: \(v.text)")
            }
            scanned += 1
        }
        XCTAssertGreaterThan(scanned, 100)
    }

    /// The scan finds what it is for, and leaves the rest alone.
    func testTheScanFindsCastsAndComparisons() {
        let types = ["SplitReasonPolicy", "SingleTierPolicy"]
        let names = ["splitreason", "single"]
        let text = """
            if let sr = p as? SplitReasonPolicy { }
            let x = p as! SingleTierPolicy
            guard p is SplitReasonPolicy else { }
            if p.name == "single" { }
            case "splitreason": break
            let help = "e.g. --set policy.name=splitreason"
            let ok = p is any GateablePolicy
            // as? SplitReasonPolicy in a comment
            """
        XCTAssertEqual(Self.violations(in: text, types: types, names: names).map(\.line), [1, 2, 3, 4, 5])
    }

    /// A field that changes how a plan runs, not the plan, stays out of the plan's memo key: a
    /// sweep over `chunk_tokens` or `mode` plans once, and still simulates each setting.
    func testExecutionFieldsShareOnePlan() throws {
        let base = try ScenarioLoader.load(path: nil, overrides: ["trace.synthetic.requests=40"])
        let trace = try Simulation.loadTrace(base)
        var e2el: [Double] = []
        for o in [
            ["policy.mode=sequential"], ["policy.mode=pipelined", "policy.chunk_tokens=32"],
            ["policy.mode=pipelined", "policy.chunk_tokens=128"]
        ] {
            let sc = try ScenarioLoader.load(path: nil, overrides: ["trace.synthetic.requests=40"] + o)
            e2el.append(try Simulation.run(sc, trace: trace).typedSummary.latencyMs.e2el.mean)
        }
        XCTAssertEqual(
            trace.memoisedKeys.filter { $0.base is Simulator<VLLMScheduler>.PlanKey }.count, 1, "\(trace.memoisedKeys)")
        XCTAssertEqual(Set(e2el).count, 3, "each execution simulated on its own: \(e2el)")
        let other = try ScenarioLoader.load(
            path: nil, overrides: ["trace.synthetic.requests=40", "policy.offload_threshold=0.5"])
        _ = try Simulation.run(other, trace: trace)
        XCTAssertEqual(
            trace.memoisedKeys.filter { $0.base is Simulator<VLLMScheduler>.PlanKey }.count, 2,
            "a threshold is a new plan")
    }
}
