import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Issue 26, item 7: what a new user hit — each message names the fix, and a rerun replaces only
/// what Handoff wrote.
final class InputHintTests: XCTestCase {
    func loadError(_ yaml: String, _ overrides: [String] = []) -> String {
        do {
            _ = try scenario(yaml, overrides)
            return ""
        } catch { return "\(error)" }
    }

    var defaultYAML: String { try! String(contentsOfFile: packageRoot + "/Scenarios/default.yaml", encoding: .utf8) }

    func testDidYouMean() {
        // A misspelt section and field in the file, not only in --set.
        XCTAssertTrue(
            loadError(defaultYAML.replacingOccurrences(of: "\ntraffic:", with: "\ntrafic:"))
                .contains("did you mean 'traffic'?"))
        XCTAssertTrue(
            loadError(defaultYAML.replacingOccurrences(of: "  rate_rps: 0.5", with: "  rate_rp: 0.5"))
                .contains("did you mean 'rate_rps'?"))
        // Catalogue names: the names containing it, else the nearest.
        XCTAssertTrue(
            loadError(defaultYAML, ["tiers.large.gpu=H100"]).contains(
                "did you mean 'H100-PCIe-80GB' or 'H100-SXM-80GB'?"))
        XCTAssertTrue(loadError(defaultYAML, ["models.large.name=Qwen3-32"]).contains("did you mean 'Qwen3-32B'"))
    }

    func testTabInYAMLIsNamed() {
        let e = loadError("name: x\ntraffic:\n\trate_rps: 2\n")
        XCTAssertTrue(e.contains("tab"), e)
    }

    func testEmptyRewardTierIsRefused() {
        let yaml = try! String(contentsOfFile: packageRoot + "/Scenarios/specs-math500.yaml", encoding: .utf8)
        let e = loadError(yaml, ["policy.reward_tier=''"])
        XCTAssertTrue(e.contains("policy.reward_tier") && e.contains("expected a tier name"), e)
    }

    func testWrongImportFormatSuggestsTheRightOne() throws {
        let dir = tempDir()
        try "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n".write(
            toFile: dir + "/a.csv", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RequestImport.parse(path: dir + "/a.csv", format: .mooncake)) {
            XCTAssertTrue("\($0)".contains("try --format azure"), "\($0)")
        }
        try #"{"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": [1]}"#.write(
            toFile: dir + "/m.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RequestImport.parse(path: dir + "/m.jsonl", format: .azure)) {
            XCTAssertTrue("\($0)".contains("try --format mooncake"), "\($0)")
        }
    }

    /// `trace synth -o demo.jsonl` twice: the second run replaces the file Handoff wrote; once the
    /// user edits it, it is theirs and needs --force.
    func testRerunReplacesOnlyWhatHandoffWrote() throws {
        let dir = tempDir()
        let args = ["trace", "synth", "-o", "demo.jsonl", "--set", "trace.synthetic.requests=5"]
        XCTAssertEqual(try runCLI(args, cwd: dir).status, 0)
        let again = try runCLI(args, cwd: dir)
        XCTAssertEqual(again.status, 0, again.stderr)
        let h = try XCTUnwrap(FileHandle(forWritingAtPath: dir + "/demo.jsonl"))
        h.seekToEndOfFile()
        h.write(Data("\n".utf8))
        h.closeFile()
        let edited = try runCLI(args, cwd: dir)
        XCTAssertEqual(edited.status, 2)
        XCTAssertTrue(edited.stderr.contains("--force"), edited.stderr)
        // A file Handoff never wrote is protected too.
        try "mine\n".write(toFile: dir + "/mine.jsonl", atomically: true, encoding: .utf8)
        XCTAssertEqual(try runCLI(["trace", "synth", "-o", "mine.jsonl"], cwd: dir).status, 2)
        XCTAssertEqual(try String(contentsOfFile: dir + "/mine.jsonl", encoding: .utf8), "mine\n")
    }

    func testEmptyScenarioPathNamesTheArgument() throws {
        let r = try runCLI(["scenario", "check", ""])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("SCENARIO") && r.stderr.contains("scenario path is empty"), r.stderr)
    }

    /// `compare` warns when the measured model is not the scenario's.
    func testCompareWarnsOnAnotherModel() throws {
        let d = tempDir()
        let sets = ["--set", "policy.name=small-only", "--set", "trace.synthetic.requests=20"]
        let sim = try runCLI(["simulate", "--format", "vllm-bench", "--save-detailed"] + sets)
        XCTAssertEqual(sim.status, 0, sim.stderr)
        let other = sim.stdout.replacingOccurrences(
            of: #""model_id": "DeepSeek-R1-Distill-Qwen-1.5B""#, with: #""model_id": "meta-llama/Llama-3.1-70B""#)
        XCTAssertNotEqual(other, sim.stdout, "model_id not found in the result")
        try other.write(toFile: d + "/r.json", atomically: true, encoding: .utf8)
        let c = try runCLI(["compare", d + "/r.json"] + sets)
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stdout.contains("model_id is 'meta-llama/Llama-3.1-70B'"), c.stdout)
        try sim.stdout.write(toFile: d + "/same.json", atomically: true, encoding: .utf8)
        XCTAssertFalse(try runCLI(["compare", d + "/same.json"] + sets).stdout.contains("model_id is"))
    }

    /// Achieved MFU by hand: small-only on one L4 (no prefill, one request of 100 tokens): model
    /// FLOPs 2 · P · 100 over bf16 peak × duration.
    func testAchievedMFUByHand() throws {
        let dir = tempDir()
        try #"{"id":"r","prompt_tokens":0,"output_tokens":100,"hard_spans":[]}"#.appending("\n").write(
            toFile: dir + "/t.jsonl", atomically: true, encoding: .utf8)
        let sc = try scenario(
            handComputableScenarioYAML(trace: dir + "/t.jsonl", policy: "name: small-only"))
        let r = try Simulation.run(sc)
        let tier = sc.tiers[0]
        let a = try XCTUnwrap(r.typedSummary.achieved["small"])
        let o = r.outcome.tiers[0]
        XCTAssertEqual(o.generatedTokens + o.prefilledTokens, 100)
        let flops = 2 * tier.model.computeParamsB * 1e9 * 100
        XCTAssertEqual(a.mfu, flops / (r.typedSummary.durationS * tier.gpu.tflops * 1e12), accuracy: 1e-12)
        // One decode iteration per token, each reading the weights once.
        XCTAssertEqual(o.iterations, 100)
        let bytes = 100 * tier.model.computeParamsB * 1e9 * tier.model.weightBytes
        XCTAssertEqual(a.mbu, bytes / (r.typedSummary.durationS * tier.gpu.bandwidthGBs * 1e9), accuracy: 1e-12)
        XCTAssertLessThan(a.mfu, 1)
        XCTAssertLessThan(a.mbu, 1)
    }
}
