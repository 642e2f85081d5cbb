import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// What the fuzzers found (issue: bad input never crashes Handoff, never loses a file, never
/// yields a wrong number with exit 0), each kept as a regression test.
final class BadInputTests: XCTestCase {
    // MARK: Files are never lost

    /// `trace convert a.jsonl .` once replaced the working directory, input included.
    func testConvertNeverReplacesADirectoryHoldingTheInput() throws {
        let d = tempDir()
        var r = try runCLI(["trace", "synth", "-o", d + "/t.jsonl", "--set", "trace.synthetic.requests=3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try "mine".write(toFile: d + "/notes.txt", atomically: true, encoding: .utf8)
        for force in [false, true] {
            r = try runCLI(["trace", "convert", "t.jsonl", "."] + (force ? ["--force"] : []), cwd: d)
            XCTAssertEqual(r.status, 2, r.stderr)
            XCTAssert(r.stderr.contains("holds this command's input"), r.stderr)
        }
        r = try runCLI(["trace", "convert", d + "/t.jsonl", d + "/t.jsonl", "--force"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("is also this command's input"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: d + "/notes.txt", encoding: .utf8), "mine")
        XCTAssertEqual(try TraceReader.read(path: d + "/t.jsonl").count, 3)
    }

    /// An existing directory that holds anything Handoff did not write is never replaced, even
    /// with --force; one of its own outputs is, and so is an empty one.
    func testOutputDirectoriesKeepForeignFiles() throws {
        let d = tempDir()
        let out = d + "/o"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "keep".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        for args in [
            ["trace", "synth", "-o", out], ["simulate", "--out", out], ["simulate", "--out", out, "--force"],
            ["trace", "synth", "-o", out, "--force"]
        ] {
            let r = try runCLI(args + ["--set", "trace.synthetic.requests=3"])
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssert(r.stderr.contains("notes.txt"), r.stderr)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out), ["notes.txt"])

        // Its own output: replaced as a whole (stale files go), with the marker listing the files.
        let sim = d + "/sim"
        XCTAssertEqual(try runCLI(["simulate", "--out", sim, "--set", "trace.synthetic.requests=3"]).status, 0)
        XCTAssertEqual(OutputPath.ownFiles(sim), SimulationOutput.fileNames)
        let first = try String(contentsOfFile: sim + "/summary.json", encoding: .utf8)
        XCTAssertEqual(try runCLI(["simulate", "--out", sim, "--set", "trace.synthetic.requests=4"]).status, 0)
        XCTAssertNotEqual(try String(contentsOfFile: sim + "/summary.json", encoding: .utf8), first)
        // A file the user added to it makes it theirs again.
        try "mine".write(toFile: sim + "/mine.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try runCLI(["simulate", "--out", sim, "--force"]).status, 2)
        XCTAssertEqual(try String(contentsOfFile: sim + "/mine.txt", encoding: .utf8), "mine")
        // No temporary sibling is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: d).sorted(), ["o", "sim"])
    }

    /// A command that writes into its folder file by file (tune, capacity, whatif, validate,
    /// sweep) deletes nothing: into an unmarked folder with --force only, and other files stay.
    func testInPlaceOutputsKeepOtherFiles() throws {
        let out = tempDir()
        try "notes".write(toFile: out + "/README.md", atomically: true, encoding: .utf8)
        let args = [
            "whatif", "--vary", "policy.offload_threshold=0.5", "--set", "trace.synthetic.requests=5", "--format",
            "json", "--out", out
        ]
        var r = try runCLI(args)
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--force"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/whatif.json"))
        r = try runCLI(args + ["--force"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(FileManager.default.fileExists(atPath: out + "/whatif.json"))
        XCTAssertEqual(try String(contentsOfFile: out + "/README.md", encoding: .utf8), "notes")
        // Now marked: a rerun needs no --force, and still keeps the README.
        XCTAssertEqual(try runCLI(args).status, 0)
        XCTAssertEqual(try String(contentsOfFile: out + "/README.md", encoding: .utf8), "notes")
    }

    /// An existing file is replaced only with --force; an empty path is an error.
    func testExistingFileNeedsForce() throws {
        let d = tempDir()
        let t = d + "/t.jsonl"
        try "precious\n".write(toFile: t, atomically: true, encoding: .utf8)
        var r = try runCLI(["trace", "synth", "-o", t, "--set", "trace.synthetic.requests=2"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("--force"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: t, encoding: .utf8), "precious\n")
        r = try runCLI(["trace", "synth", "-o", t, "--set", "trace.synthetic.requests=2", "--force"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try TraceReader.read(path: t).count, 2)
        for args in [
            ["trace", "synth", "-o", ""], ["trace", "import-splitreason", t, "-o", ""], ["simulate", "--out", ""]
        ] {
            r = try runCLI(args)
            XCTAssertEqual(r.status, 2, "\(args)")
            XCTAssert(r.stderr.contains("empty"), r.stderr)
        }
    }

    /// `sweep` loads the trace before it creates its folder.
    func testSweepWritesNothingWhenTheTraceFails() throws {
        let d = tempDir()
        try "{\"prompt_tokens\": 1, \"difficulty\": [2]}\n".write(
            toFile: d + "/bad.jsonl", atomically: true, encoding: .utf8)
        let r = try runCLI([
            "sweep", "--set", "trace={file: \(d)/bad.jsonl}", "--grid", "policy.offload_threshold=0.5,0.6", "--out",
            d + "/s"
        ])
        XCTAssertEqual(r.status, 2)
        XCTAssert(r.stderr.contains("bad.jsonl:1"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/s"))
    }

    // MARK: Crashes

    /// Every input that once crashed a reader, replayed through the fuzzer's entry points.
    func testFuzzRegressions() throws {
        let scratch = tempDir()
        var count = 0
        for target in FuzzEntry.Target.allCases {
            let dir = packageRoot + "/Tests/fuzz/" + target.rawValue
            for f in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
                let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))
                XCTAssertNoThrow(try FuzzEntry.run(target, data, scratch: scratch), "\(target) \(f)")
                count += 1
            }
        }
        XCTAssertGreaterThanOrEqual(count, 14)
    }

    /// Two high surrogates in a row ("\udB0a\udB0a", found by libFuzzer) underflowed the pair
    /// arithmetic: a trap in debug builds, a wrong character under -Ounchecked.
    func testJSONSurrogates() throws {
        XCTAssertEqual(try JSONParser.parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(try JSONParser.parse(#""\udB0a\udB0a""#), .string("\u{FFFD}\u{FFFD}"))
        XCTAssertEqual(try JSONParser.parse(#""\udc00x""#), .string("\u{FFFD}x"))
        XCTAssertThrowsError(try JSONParser.parse(#""\udB0a\udB0a"#))
    }

    func testNPYShapeOverflowIsAnError() throws {
        let d = tempDir()
        var h = "{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904,), }"
        h += String(repeating: " ", count: (64 - (10 + h.utf8.count + 1) % 64) % 64) + "\n"
        var bytes = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(h.utf8.count & 0xFF), UInt8(h.utf8.count >> 8)])
        bytes.append(contentsOf: Array(h.utf8) + [UInt8](repeating: 0, count: 64))
        try bytes.write(to: URL(fileURLWithPath: d + "/offsets.npy"))
        XCTAssertThrowsError(try NPY.readInts(d + "/offsets.npy")) { e in
            XCTAssert("\(e)".contains("shorter than its shape"), "\(e)")
        }
    }

    func testTokenLimitsComeBeforeAllocation() throws {
        XCTAssertThrowsError(
            try TraceJSONL.parse(#"{"prompt_tokens":5,"output_tokens":1000000000000}"#, file: "t.jsonl")
        ) { e in
            let h = e as! HandoffError
            XCTAssertEqual(h.line, 1)
            XCTAssertEqual(h.field, "output_tokens")
            XCTAssert(h.message.contains("\(Limits.requestTokens)"), h.message)
        }
        // The largest allowed request still reads.
        let t = try TraceJSONL.parse("{\"prompt_tokens\":5,\"output_tokens\":\(Limits.requestTokens)}", file: "t.jsonl")
        XCTAssertEqual(t.outputTokens(0), Limits.requestTokens)
    }

    func testGridCountsCannotOverflow() throws {
        for spec in [
            "policy.offload_threshold=0:1e308:1e-300", "policy.offload_threshold=0:1:1e-308",
            "policy.offload_threshold=0:1:0.000001"
        ] {
            XCTAssertThrowsError(try GridAxis.parse(spec), spec) { e in XCTAssert("\(e)".contains("at most"), "\(e)") }
        }
        let a = try GridAxis.parse("x=0:1:0.5")
        let big = GridAxis(path: "y", values: (0..<1000).map(String.init))
        XCTAssertThrowsError(try Grid([a, big, GridAxis(path: "z", values: (0..<1000).map(String.init))]))
        XCTAssertEqual(try Grid([a, big]).count, 3000)
        // A step written without a '.' (1e-05) once printed every value as 0: duplicates.
        XCTAssertEqual(try GridAxis.parse("x=0:0.00004:1e-05").values.count, 5)
        XCTAssertEqual(Set(try GridAxis.parse("x=0:0.00004:1e-05").values).count, 5)
    }

    func testYAMLAliasesAndDeepNestingAreRefusedBeforeParsing() throws {
        let bomb = try String(contentsOfFile: packageRoot + "/Tests/fuzz/scenario/alias-bomb.yaml", encoding: .utf8)
        XCTAssertThrowsError(try ConfigNode.parse(yaml: bomb, origin: "b.yaml")) { e in
            let h = e as! HandoffError
            XCTAssertEqual(h.line, 1)
            XCTAssert(h.message.contains("anchors"), h.message)
        }
        XCTAssertThrowsError(try ConfigNode.parse(yaml: "a: 1\nb: *x\n", origin: "b.yaml")) { e in
            XCTAssertEqual((e as! HandoffError).line, 2)
        }
        XCTAssertThrowsError(
            try ConfigNode.parse(
                yaml: "a: " + String(repeating: "[", count: 65) + String(repeating: "]", count: 65), origin: "d.yaml"))
        // Quoted and plain scalars with the same characters are values, not anchors or nesting.
        let ok = try ConfigNode.parse(
            yaml: "a: 'x & *y'\nb: \"[[[&z\"\nc: 3 * 4 & 5\nd: [1, [2, 3]] # &c *d\n", origin: "ok.yaml")
        XCTAssertEqual(ok["a"]?.scalar, "x & *y")
        XCTAssertEqual(ok["c"]?.scalar, "3 * 4 & 5")
    }

    // MARK: Wrong numbers with exit 0

    func testOverflowingValuesAreInputErrors() throws {
        for o in [
            "network.bytes_per_token=1e308", "cost.large.usd_per_gpu_hour=1e308",
            "network.rtt_ms={distribution: exponential, mean: 1e308}"
        ] {
            let r = try runCLI(["simulate", "--set", o, "--format", "json"])
            XCTAssertEqual(r.status, 2, o)
            XCTAssertFalse(r.stdout.contains("null"), o)
        }
        // At the bound, every number is finite.
        let s = try Simulation.run(
            try ScenarioLoader.load(
                path: nil, overrides: ["network.bytes_per_token=1e15", "cost.large.usd_per_gpu_hour=1e15"])
        ).summary
        SummaryCheck.walk(s, "") { k, x in XCTAssert(x.isFinite, k) }
    }

    /// A request whose one step covers its output: TTFT once exceeded E2EL (negative TPOT).
    func testSpecsWholeOutputStepKeepsTTFTBelowE2EL() throws {
        let r = try Simulation.run(
            try ScenarioLoader.load(
                path: packageRoot + "/Scenarios/specs-math500.yaml",
                overrides: ["trace.synthetic.step_tokens_mean=500", "trace.synthetic.requests=40"]))
        for q in r.outcome.requests {
            XCTAssertGreaterThanOrEqual(q.e2elS, q.ttftS, q.id)
            XCTAssertGreaterThanOrEqual(q.tpotS, 0, q.id)
        }
    }

    /// Zero-output requests were marked failed with E2EL ≈ −(arrival + 1) s under route,
    /// small-only and large-only; every policy now completes them at arrival.
    func testZeroOutputRequestsCompleteAtArrival() throws {
        for p in ["route", "small-only", "large-only", "splitreason"] {
            let r = try Simulation.run(
                try ScenarioLoader.load(
                    path: packageRoot + "/Scenarios/route-default.yaml",
                    overrides: [
                        "policy.name=\(p)", "trace.synthetic.output_tokens={median: 50, sigma: 3, min: 0, max: 1}",
                        "trace.synthetic.requests=30"
                    ]))
            let zero = r.outcome.requests.filter { $0.outputTokens == 0 }
            XCTAssertFalse(zero.isEmpty, p)
            for q in r.outcome.requests {
                XCTAssertFalse(q.failed, "\(p) \(q.id)")
                XCTAssertGreaterThanOrEqual(q.e2elS, 0)
            }
            for q in zero {
                XCTAssertEqual(q.e2elS, 0, p)
                XCTAssertEqual(q.ttftS, 0, p)
            }
        }
    }

    func testAPITierIsInEveryPerTierTable() throws {
        let r = try Simulation.run(
            try ScenarioLoader.load(
                path: packageRoot + "/Scenarios/api-offload.yaml", overrides: ["trace.synthetic.requests=20"]))
        let api = r.scenario.tiers.first { $0.kind == .api }!.name
        for table in ["memory_gib", "utilization", "preemptions"] { XCTAssertNotNil(r.summary[table]?[api], table) }
        XCTAssertEqual(r.summary["memory_gib"]?[api]?["api"], .bool(true))
    }

    // MARK: Rules

    func testEveryPolicysFieldsAreRangeChecked() throws {
        for o in [
            "policy.beam_width=0", "policy.draft_tokens=0", "policy.route_threshold=5", "policy.mode=parallel",
            "policy.variant=x",
            "policy.rejection_threshold=7", "policy.switch_back_threshold=-1", "trace.synthetic.step_tokens_mean=0.5"
        ] {
            XCTAssertThrowsError(
                try ScenarioLoader.load(path: packageRoot + "/Scenarios/edge-cloud.yaml", overrides: [o]), o
            ) { e in
                XCTAssertEqual((e as! HandoffError).exitCode, 2, o)
                XCTAssertNotNil((e as! HandoffError).field, o)
            }
        }
    }

    func testColumnarStepsAreChecked() throws {
        let d = tempDir() + "/c"
        var spec = SyntheticTraceSpec()
        spec.requests = 2
        spec.outputTokens = .init(median: 20, sigma: 0, min: 20, max: 20)
        spec.stepTokensMean = 5
        try TraceColumnar.write(spec.generate(), to: d, dtype: .f4)
        let good = try TraceColumnar.read(path: d)
        XCTAssert(good.hasSteps)
        let original = try Data(contentsOf: URL(fileURLWithPath: d + "/steps.npy"))
        for bad: [Int32] in [good.steps.map { $0 + 100 }, good.steps.map { -$0 }, good.steps.map { _ in 3 }] {
            try NPY.encode(bad).write(to: URL(fileURLWithPath: d + "/steps.npy"))
            XCTAssertThrowsError(try TraceColumnar.read(path: d)) { e in XCTAssert("\(e)".contains("steps.npy"), "\(e)")
            }
        }
        try original.write(to: URL(fileURLWithPath: d + "/steps.npy"))
        // difficulty in the index is refused (it lives in difficulty.npy).
        let index = try String(contentsOfFile: d + "/index.jsonl", encoding: .utf8)
        try index.replacingOccurrences(of: "\"prompt_tokens\"", with: "\"difficulty\":[0.5],\"prompt_tokens\"").write(
            toFile: d + "/index.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try TraceColumnar.read(path: d)) { e in
            XCTAssertEqual((e as! HandoffError).field, "difficulty")
        }
    }

    // MARK: Exit codes and messages

    func testUsageErrorsExitTwo() throws {
        for args in [["simulate", "--bogus"], ["simulate", "--format", "xml"], ["trace", "convert"], ["nonsense"]] {
            XCTAssertEqual(try runCLI(args).status, 2, "\(args)")
        }
        XCTAssertEqual(try runCLI(["simulate", "--help"]).status, 0)
    }

    func testMissingReferencedFilesNameTheScenarioLine() throws {
        let d = tempDir()
        let yaml = try String(contentsOfFile: packageRoot + "/Scenarios/default.yaml", encoding: .utf8)
            .replacingOccurrences(of: "trace:\n  synthetic:", with: "trace:\n  file: missing.jsonl\n  unused:")
        try yaml.write(toFile: d + "/s.yaml", atomically: true, encoding: .utf8)
        let r = try runCLI(["scenario", "check", d + "/s.yaml"])
        XCTAssertEqual(r.status, 2)
        XCTAssert(
            r.stderr.contains(d + "/s.yaml:7") && r.stderr.contains("trace.file") && r.stderr.contains("missing.jsonl"),
            r.stderr)
    }

    func testReplayWithoutArrivalsNamesTheScenarioField() throws {
        let d = tempDir()
        try "{\"prompt_tokens\": 3, \"output_tokens\": 4}\n".write(
            toFile: d + "/t.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(
            try Simulation.run(
                try ScenarioLoader.load(path: nil, overrides: ["trace={file: \(d)/t.jsonl}", "traffic.arrival=replay"]))
        ) { e in
            let h = e as! HandoffError
            XCTAssertNotNil(h.file)
            XCTAssertEqual(h.field, "traffic.arrival")
            XCTAssert(h.message.contains("t.jsonl"), h.message)
        }
    }

    // MARK: Engine connections

    /// `engine.<tier>.api_key_env` names a variable, never holds a key; an unset variable and a
    /// missing CA file are exit-2 errors naming the field, before any request is sent.
    func testEngineKeyAndCAFieldsAreChecked() throws {
        let base = [
            "validate", "Scenarios/llamacpp-local.yaml", "--set", "policy.name=small-only", "--sample", "1", "--out",
            tempDir() + "/v"
        ]
        var r = try runCLI(base + ["--set", "engine.small.api_key_env=HANDOFF_NO_SUCH_VARIABLE"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssert(
            r.stderr.contains("engine.small.api_key_env") && r.stderr.contains("HANDOFF_NO_SUCH_VARIABLE is not set"),
            r.stderr)
        r = try runCLI(base + ["--set", "engine.small.api_key_env=sk-live-123 456"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssert(r.stderr.contains("api_key_env") && r.stderr.contains("never goes in a scenario"), r.stderr)
        r = try runCLI(base + ["--set", "engine.small.ca_file=/no/such/ca.pem"])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssert(r.stderr.contains("engine.small.ca_file") && r.stderr.contains("/no/such/ca.pem"), r.stderr)
        r = try runCLI([
            "calibrate", "--server", "https://127.0.0.1:9", "--cacert", "/no/such/ca.pem", "-o", tempDir() + "/c.yaml"
        ])
        XCTAssertEqual(r.status, 2, r.stderr)
        XCTAssert(r.stderr.contains("--cacert"), r.stderr)
        // A set variable: the key is read; nothing about it is printed when the server is unreachable.
        r = try runCLI(
            base + [
                "--set", "engine.small.api_key_env=HANDOFF_KEY_T", "--small", "http://127.0.0.1:9", "--retries", "0"
            ],
            environment: ["HANDOFF_KEY_T": "sk-secret-777"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertFalse(r.stderr.contains("sk-secret-777") || r.stdout.contains("sk-secret-777"), r.stderr)
    }
}
