import Foundation
import HandoffSupport

/// The entry points the fuzzer (`Sources/handoff-fuzz`, `scripts/fuzz`) drives, and the
/// regression tests replay: each takes arbitrary bytes, and must either succeed or throw a
/// `HandoffError` that names its file — never crash, hang or throw anything else.
public enum FuzzEntry {
    public enum Target: String, CaseIterable, Sendable {
        /// Bytes as a scenario file: YAML parsing, every field's checks, the policy registry.
        case scenario
        /// Bytes as a JSONL trace: the line parser and every field's checks.
        case jsonl
        /// Byte 0 picks a file of a valid columnar trace (difficulty, offsets, steps,
        /// step_offsets, step_scores, index); the rest replaces it. The `.npy` reader and the
        /// columnar checks.
        case columnar
    }

    /// A finding: the input made a reader fail in a way the contract forbids.
    public struct Violation: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs `data` through `target`. Throws `Violation` for an error that is not a located
    /// `HandoffError`; a crash is the fuzzer's to catch.
    public static func run(_ target: Target, _ data: Data, scratch: String) throws {
        do {
            switch target {
            case .scenario:
                let text = String(decoding: data, as: UTF8.self)
                let root = try ConfigNode.parse(yaml: text, origin: "fuzz.yaml")
                guard root.isMap else { return }
                let s = try ScenarioLoader.build(root, baseDir: scratch)
                // The built scenario must describe a runnable system.
                if s.tiers.isEmpty { throw Violation(description: "a scenario without tiers was accepted") }
            case .jsonl:
                let t = try TraceJSONL.parse(String(decoding: data, as: UTF8.self), file: "fuzz.jsonl")
                if t.offsets.last != t.difficulty.count {
                    throw Violation(description: "offsets do not end at the column's length")
                }
                _ = TraceStatistics.compute(t)
            case .columnar:
                let dir = try columnarSeed(scratch)
                let files = [
                    "difficulty.npy", "offsets.npy", "steps.npy", "step_offsets.npy", "step_scores.npy", "index.jsonl"
                ]
                let pick = data.first.map { Int($0) % files.count } ?? 0
                let original = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + files[pick]))
                try data.dropFirst().write(to: URL(fileURLWithPath: dir + "/" + files[pick]))
                defer { try? original.write(to: URL(fileURLWithPath: dir + "/" + files[pick])) }
                let t = try TraceColumnar.read(path: dir)
                for r in 0..<t.count where t.hasSteps {
                    let n = t.outputTokens(r)
                    var prev: Int32 = 0
                    for s in t.stepBoundaries(r) {
                        if s <= prev || Int(s) > n {
                            throw Violation(description: "request \(r): step \(s) accepted after \(prev), output \(n)")
                        }
                        prev = s
                    }
                }
                _ = TraceStatistics.compute(t)
            }
        } catch let e as HandoffError {
            if e.file == nil && e.field == nil {
                throw Violation(description: "an error names neither file nor field: \(e)")
            }
        }
    }

    /// A small valid columnar trace with steps and candidates in `scratch/columnar` (made once).
    static func columnarSeed(_ scratch: String) throws -> String {
        let dir = scratch + "/columnar"
        if FileManager.default.fileExists(atPath: dir + "/index.jsonl") { return dir }
        var spec = SyntheticTraceSpec()
        spec.requests = 3
        spec.outputTokens = .init(median: 24, sigma: 0, min: 16, max: 32)
        spec.stepTokensMean = 6
        spec.stepCandidates = 2
        try TraceColumnar.write(spec.generate(), to: dir, dtype: .f2)
        return dir
    }
}
