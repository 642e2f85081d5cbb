import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Bad input: exit code 2, a message naming file, line and field, and no output files.
final class CLITests: XCTestCase {
    func expectInputError(
        _ args: [String], contains parts: [String], file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let out = tempDir() + "/out"
        let r = try runCLI(args + ["--out", out])
        XCTAssertEqual(r.status, 2, "stderr: \(r.stderr)", file: file, line: line)
        for p in parts { XCTAssertTrue(r.stderr.contains(p), "'\(p)' not in: \(r.stderr)", file: file, line: line) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "output left behind", file: file, line: line)
    }

    func write(_ text: String, _ name: String) -> String {
        let p = tempDir() + "/" + name
        try! text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    var scenarioText: String { try! String(contentsOfFile: packageRoot + "/Scenarios/default.yaml", encoding: .utf8) }

    func testMalformedYAML() throws {
        let p = write("name: x\ntiers:\n  small: {gpu: L4-24GB\n", "bad.yaml")
        try expectInputError(["simulate", p], contains: [p + ":", "malformed YAML"])
    }

    func testUnknownField() throws {
        let p = write(
            scenarioText.replacingOccurrences(
                of: "    replicas: 1\n    max_num_seqs", with: "    replicas: 1\n    max_num_seq: 4\n    max_num_seqs"),
            "unknown.yaml")
        try expectInputError(
            ["simulate", p],
            contains: [p + ":25:", "tiers.small.max_num_seq", "unknown field", "did you mean 'max_num_seqs'"])
    }

    func testWrongUnit() throws {
        let p = write(
            scenarioText.replacingOccurrences(of: "median: 0.5, p99: 2", with: "median: 40ms, p99: 2"), "unit.yaml")
        try expectInputError(
            ["simulate", p], contains: [p + ":", "network.rtt_ms.median", "'40ms' has a unit", "milliseconds"])
    }

    func testBadOverride() throws {
        try expectInputError(
            ["simulate", "--set", "tiers.small.replicas=two"],
            contains: ["--set tiers.small.replicas=two", "tiers.small.replicas", "expected an integer"])
    }

    func traceScenario(_ trace: String) -> String {
        write(
            """
            trace: {file: \(trace)}
            tiers:
              small: {gpu: L4-24GB, model: DeepSeek-R1-Distill-Qwen-1.5B}
              large: {gpu: H100-SXM-80GB, model: DeepSeek-R1-Distill-Qwen-14B}
            policy: {name: splitreason}
            """, "s.yaml")
    }

    func testTraceLineWithBadJSON() throws {
        let t = write(
            #"{"id":"a","prompt_tokens":3,"difficulty":[0.1,0.2]}"# + "\n"
                + #"{"id":"b","prompt_tokens":3,"difficulty":[0.1,]}"# + "\n", "t.jsonl")
        try expectInputError(["simulate", traceScenario(t)], contains: [t + ":2:", "invalid JSON"])
    }

    func testDifficultyOutOfRange() throws {
        let t = write(#"{"id":"a","prompt_tokens":3,"difficulty":[0.1,1.3]}"# + "\n", "t.jsonl")
        try expectInputError(["simulate", traceScenario(t)], contains: [t + ":1:", "difficulty[1]", "out of range"])
    }

    func testEmptyTrace() throws {
        let t = write("\n\n", "t.jsonl")
        try expectInputError(["simulate", traceScenario(t)], contains: [t, "no requests"])
    }

    func testSimulateWritesOutputs() throws {
        let out = tempDir() + "/run"
        let r = try runCLI(["simulate", "--set", "trace.synthetic.requests=30", "--format", "json", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let summary = try JSONParser.parse(r.stdout)
        for key in [
            "requests", "duration_s", "throughput_rps", "output_tokens_per_s", "latency_ms.ttft.p99",
            "latency_ms.tpot.mean", "latency_ms.e2el.p50",
            "offload.token_fraction", "offload.handoffs_per_request", "memory_gib.small.peak",
            "memory_gib.large.capacity",
            "cost_usd.total", "cost_usd.per_1k_requests", "accuracy.predicted", "seed"
        ] {
            XCTAssertNotNil(number(summary, key), key)
        }
        XCTAssertEqual(summary["memory_gib"]?["small"]?["fits"], .bool(true))
        guard case .numbers(let ci)? = summary["accuracy"]?["ci95"] else { return XCTFail("accuracy.ci95 missing") }
        XCTAssertEqual(ci.count, 2)
        let csv = try String(contentsOfFile: out + "/requests.csv", encoding: .utf8)
        XCTAssertEqual(csv.split(separator: "\n").count, 31)
        XCTAssertEqual(
            try String(contentsOfFile: out + "/summary.json", encoding: .utf8),
            JSONWriter.write(summary, pretty: true) + "\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/report.md"))
    }

    func testScenarioCheckAllShipped() throws {
        for name in [
            "default", "splitreason-a6000", "edge-cloud", "api-offload", "llamacpp-local", "route-default",
            "speculative-llamacpp", "qwen-local"
        ] {
            let r = try runCLI(["scenario", "check", "Scenarios/\(name).yaml"])
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stdout.hasPrefix("ok:"))
        }
    }

    /// Engine commands reject bad input before touching a server (none runs at these URLs).
    func testEngineCommandsBadInput() throws {
        let prompts = write("{\"id\": 1, \"prompt\": \"x\"}\n{\"id\": 2, \"promt\": \"y\"}\n", "p.jsonl")
        var r = try runCLI([
            "record", "--prompts", prompts, "-o", tempDir() + "/t.jsonl", "--server", "http://127.0.0.1:9"
        ])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains(prompts + ":2") && r.stderr.contains("promt"), r.stderr)
        r = try runCLI(["calibrate", "-o", tempDir() + "/c.yaml", "--batches", "1,x"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--batches"), r.stderr)
        r = try runCLI(["validate", "Scenarios/llamacpp-local.yaml", "--sample", "1000", "--out", tempDir() + "/v"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--sample 1000 is out of range"), r.stderr)
        r = try runCLI([
            "validate", "Scenarios/llamacpp-local.yaml", "--set", "engine.small.template=jinja", "--out",
            tempDir() + "/v"
        ])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("engine.small.template") && r.stderr.contains("'jinja' is not one of"), r.stderr)
        r = try runCLI(["validate", "Scenarios/llamacpp-local.yaml", "--small", "ftp://x", "--out", tempDir() + "/v"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("not a server URL"), r.stderr)
        r = try runCLI(["validate", "Scenarios/llamacpp-local.yaml", "--lengths", "forced", "--out", tempDir() + "/v"])
        XCTAssertEqual(r.status, 2, "argument-parser usage errors exit 2 like all bad input")
        XCTAssert(r.stderr.contains("--lengths"), r.stderr)
        r = try runCLI([
            "closed-loop", "Scenarios/qwen-local.yaml", "--thresholds", "0.4,0.6", "--fit", "0.5", "--out",
            tempDir() + "/c"
        ])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--fit") && r.stderr.contains("not among --thresholds"), r.stderr)
        r = try runCLI([
            "closed-loop", "Scenarios/qwen-local.yaml", "--thresholds", "0.4,1.5", "--out", tempDir() + "/c"
        ])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--thresholds"), r.stderr)
        r = try runCLI(["closed-loop", "Scenarios/qwen-local.yaml", "--sample", "999", "--out", tempDir() + "/c"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--sample 999 is out of range"), r.stderr)
        r = try runCLI(["prompts", "generate", "--kind", "algebra", "-o", tempDir() + "/p.jsonl"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--kind"), r.stderr)
    }

    /// The shipped prompt files are exactly what `prompts generate` makes, and the multi-step set
    /// holds out every fourth prompt.
    func testShippedPromptsRegenerate() throws {
        for (kind, seed, file) in [("arith", "7", "arith-prompts"), ("multistep", "11", "multistep-prompts")] {
            let out = tempDir() + "/p.jsonl"
            let r = try runCLI(["prompts", "generate", "--kind", kind, "--count", "200", "--seed", seed, "-o", out])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(
                try String(contentsOfFile: out, encoding: .utf8),
                try String(contentsOfFile: packageRoot + "/Scenarios/data/\(file).jsonl", encoding: .utf8), kind)
        }
        let ps = try PromptSet.read(path: packageRoot + "/Scenarios/data/multistep-prompts.jsonl")
        XCTAssertEqual(ps.filter(\.heldOut).count, 50)
        XCTAssertEqual(ps.indices.filter { ps[$0].heldOut }, Array(stride(from: 3, to: 200, by: 4)))
        // The recorded trace keeps the split, the labels and the large model's lengths.
        let t = try TraceReader.read(path: packageRoot + "/Scenarios/data/qwen-multistep.jsonl")
        XCTAssertEqual(t.requests.map(\.heldOut), Array(ps.prefix(t.count).map(\.heldOut)))
        XCTAssert(
            t.requests.allSatisfy { $0.largeCorrect != nil && $0.smallCorrect != nil && $0.largeOutputTokens != nil })
    }

    func testEmbeddedDefaultMatchesFile() throws {
        XCTAssertEqual(DefaultScenario.yaml, scenarioText, "run scripts/embed-default")
    }
}
