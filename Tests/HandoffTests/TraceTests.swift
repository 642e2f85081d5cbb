import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

final class TraceTests: XCTestCase {
    func synth(_ n: Int = 25) -> Trace {
        var s = SyntheticTraceSpec()
        s.requests = n
        s.outputTokens = .init(median: 300, sigma: 0.5, min: 1, max: 2000)
        s.stepTokensMean = 40
        s.seed = 5
        return s.generate()
    }

    func testJSONLRoundTripThroughColumnar() throws {
        let t = synth()
        let dir = tempDir()
        try TraceJSONL.write(t, to: dir + "/a.jsonl")
        let a = try TraceReader.read(path: dir + "/a.jsonl")
        try TraceColumnar.write(a, to: dir + "/col", dtype: .f4)
        let b = try TraceReader.read(path: dir + "/col")
        try TraceJSONL.write(b, to: dir + "/b.jsonl")
        XCTAssertEqual(
            try String(contentsOfFile: dir + "/a.jsonl", encoding: .utf8),
            try String(contentsOfFile: dir + "/b.jsonl", encoding: .utf8))
        XCTAssertEqual(b.requests, t.requests)
        XCTAssertEqual(b.steps, t.steps)
        XCTAssertEqual(b.totalOutputTokens, t.totalOutputTokens)
    }

    func testColumnarU1QuantisesWithin1Over510() throws {
        let t = synth()
        let dir = tempDir()
        try TraceColumnar.write(t, to: dir + "/col", dtype: .u1)
        let b = try TraceReader.read(path: dir + "/col")
        XCTAssertEqual(b.difficulty.dtype, .u1)
        for i in stride(from: 0, to: t.totalOutputTokens, by: 7) {
            XCTAssertEqual(b.difficulty[i], t.difficulty[i], accuracy: 1.0 / 510 + 1e-6)
        }
    }

    /// NumPy writes the columnar form; Handoff maps it.
    func testReadsNumPyWrittenFiles() throws {
        let dir = tempDir()
        let script = """
            import numpy as np, json
            d = np.array([0.0, 0.25, 1.0, 0.5, 0.75], dtype=np.float16)
            np.save('\(dir)/difficulty.npy', d)
            np.save('\(dir)/offsets.npy', np.array([0, 2, 5], dtype=np.int64))
            with open('\(dir)/index.jsonl', 'w') as f:
                f.write(json.dumps({"id": "x", "prompt_tokens": 4, "output_tokens": 2}) + "\\n")
                f.write(json.dumps({"id": "y", "prompt_tokens": 9, "output_tokens": 3, "small_correct": True, "large_correct": True}) + "\\n")
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python3 with numpy is needed (scripts/test installs it)")
        let t = try TraceReader.read(path: dir)
        XCTAssertEqual(t.difficulty.dtype, .f2)
        XCTAssertEqual(t.count, 2)
        XCTAssertEqual(t.outputTokens(1), 3)
        XCTAssertEqual(t.difficulty.values(0..<5), [0, 0.25, 1, 0.5, 0.75])
        XCTAssertEqual(t.requests[1].smallCorrect, true)
    }

    func testSplitReasonImport() throws {
        let dir = tempDir()
        let text =
            #"{"id":"q1","prompt":"Add 2 and 3","response":"Let me think. <bigmodel>This is hard</bigmodel> so five. <bigmodel>Check<\\bigmodel> done"}"#
            + "\n"
        try text.write(toFile: dir + "/sr.jsonl", atomically: true, encoding: .utf8)
        let t = try SplitReasonImport.read(path: dir + "/sr.jsonl")
        let d = t.difficulty.values(t.tokenRange(0))
        // "Let", " me", " think", ".", " " | "This", " is", " hard" | " so", " five", ".", " " | "Check" | " done"
        // (a space joins a following letter run; before a tag, digit or symbol it is a token of its own)
        XCTAssertEqual(d.map { Int($0) }, [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 0])
        XCTAssertEqual(t.requests[0].promptTokens, 6)  // "Add", " ", "2", " and", " ", "3"
    }

    /// `trace synth -o DIR` streams the difficulty column to disk as it generates; the directory is
    /// byte for byte the one written from the whole generated trace, in every dtype, with steps and
    /// per-candidate scores.
    func testStreamingSynthWritesWhatTheWholeTraceWrites() throws {
        var spec = SyntheticTraceSpec()
        spec.requests = 40
        spec.stepTokensMean = 50
        spec.stepCandidates = 3
        for dtype in DifficultyColumn.DType.allCases {
            let dir = tempDir()
            try TraceColumnar.write(spec.generate(), to: dir + "/whole", dtype: dtype)
            let n = try TraceColumnar.writeStreaming(spec, to: dir + "/streamed", dtype: dtype)
            XCTAssertEqual(n.requests, 40)
            XCTAssertEqual(n.tokens, spec.generate().totalOutputTokens)
            for f in [
                "index.jsonl", "difficulty.npy", "offsets.npy", "steps.npy", "step_offsets.npy", "step_scores.npy",
                "step_rewards.npy"
            ] {
                let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/whole/" + f))
                let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/streamed/" + f))
                XCTAssertEqual(a, b, "\(dtype) \(f)")
            }
        }
    }

    func testSyntheticIsDeterministicAndDocumented() {
        let a = synth(200)
        let b = synth(200)
        XCTAssertEqual(a.offsets, b.offsets)
        XCTAssertEqual(a.difficulty.values(0..<a.totalOutputTokens), b.difficulty.values(0..<b.totalOutputTokens))
        // Easy tokens are ≤ easy_max (0.5), hard ones ≥ hard_min (0.6): nothing in between.
        for i in 0..<a.totalOutputTokens { XCTAssertFalse(a.difficulty[i] > 0.5 && a.difficulty[i] < 0.6) }
        // Label coupling: whoever the small model solves, the large one solves too.
        XCTAssertTrue(a.requests.allSatisfy { !($0.smallCorrect! && !$0.largeCorrect!) })
    }

    func testInspect() throws {
        let t = try TraceJSONL.parse(SingleRequestTests.traceLine, file: "t")
        let s = TraceStatistics.compute(t)
        XCTAssertEqual(number(s, "output_tokens"), 20)
        XCTAssertEqual(s["share_above"]?["0.7"], .number(0.25))
        XCTAssertEqual(s["difficulty_histogram"]?["0.9-1.0"], .number(0.25))
    }
}
