import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Builds a scenario from YAML text (relative paths resolve against the package root).
func scenario(_ yaml: String, _ overrides: [String] = []) throws -> Scenario {
    let root = try ConfigNode.parse(yaml: yaml, origin: "test.yaml")
    for o in overrides { try root.apply(override: o) }
    return try ScenarioLoader.build(root, baseDir: packageRoot)
}

let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The public request traces (Azure LLM 2023, Mooncake) of the steering repository's shared data,
/// read where they are and never copied: `$HANDOFF_PUBLIC_TRACES`, or `shared/data/public-traces`
/// beside the checkout or beside a folder above it. nil when this machine has none.
let publicTracesDir: String? = {
    if let e = ProcessInfo.processInfo.environment["HANDOFF_PUBLIC_TRACES"], !e.isEmpty { return e }
    var dir = URL(fileURLWithPath: packageRoot)
    for _ in 0..<4 {
        let candidate = dir.deletingLastPathComponent().appendingPathComponent("shared/data/public-traces").path
        if FileManager.default.fileExists(atPath: candidate + "/mooncake-conversation.jsonl") { return candidate }
        dir.deleteLastPathComponent()
    }
    return nil
}()

/// The public traces' folder, or a skip that says where they were looked for.
func requirePublicTraces() throws -> String {
    guard let d = publicTracesDir else {
        throw XCTSkip(
            "the public traces are not on this machine (../shared/data/public-traces beside the checkout, or HANDOFF_PUBLIC_TRACES)"
        )
    }
    return d
}

/// Runs the built `handoff` executable.
func runCLI(
    _ args: [String], cwd: String? = nil, environment: [String: String] = [:]
) throws -> (status: Int32, stdout: String, stderr: String) {
    let here = Bundle(for: CLITests.self).bundleURL
    let candidates = [
        here.appendingPathComponent("handoff").path,
        here.deletingLastPathComponent().appendingPathComponent("handoff").path,
        packageRoot + "/.build/debug/handoff"
    ]
    let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) ?? candidates[0]
    guard FileManager.default.isExecutableFile(atPath: bin) else {
        XCTFail("handoff executable not found at \(bin); run `swift build` before `swift test` (scripts/test does)")
        return (-1, "", "")
    }
    let p = Process()
    let out = Pipe()
    let err = Pipe()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? packageRoot)
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Starts the built `handoff` in the background (output discarded), for tests that kill it.
func startCLI(_ args: [String]) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: packageRoot + "/.build/debug/handoff")
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
}

/// Waits (up to a minute) until the file at `path` has at least `n` lines.
func waitForLines(_ path: String, _ n: Int) {
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline,
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").count < n
    { usleep(5_000) }
}

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "handoff-test-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func number(_ v: JSONValue?, _ path: String) -> Double? {
    var cur = v
    for p in path.split(separator: ".") { cur = cur?[String(p)] }
    if case .number(let x)? = cur { return x }
    return nil
}

/// The two-tier scenario whose latencies the single-request tests compute by hand (linear laws:
/// small f = 1, a = 0.1, b = 10; large f = 2, a = 0.2, b = 30; one-way network 5 ms, free payload),
/// over the trace file `trace` with the flow-map body `policy`.
func handComputableScenarioYAML(trace: String, policy: String) -> String {
    """
    trace: {file: \(trace)}
    traffic: {arrival: constant, rate_rps: 1}
    models:
      small: {name: DeepSeek-R1-Distill-Qwen-1.5B}
      large: {name: DeepSeek-R1-Distill-Qwen-14B}
    tiers:
      small: {gpu: A100-SXM-80GB, latency: {kind: linear, fixed_ms: 1, prefill_ms_per_token: 0.1, decode_ms_per_seq: 10}}
      large: {gpu: A100-SXM-80GB, latency: {kind: linear, fixed_ms: 2, prefill_ms_per_token: 0.2, decode_ms_per_seq: 30}}
    network: {rtt_ms: 10, bytes_per_token: 0}
    policy: {\(policy)}
    """
}

/// `tune`'s hand-solvable scenario (TuneTests): requests of 100 tokens with difficulties 0.01,
/// 0.02, …, 1.00, thirty copies arriving 10 s apart, each served alone (about 1.7 s): every
/// figure is the one request's, and the run is long enough to be steady. Writes `ramp.jsonl` and
/// `ramp.yaml` (which names the trace by a relative path) into `dir`; returns the YAML's path.
func writeRampScenario(_ dir: String) throws -> String {
    let ds = (1...100).map { JSONWriter.number(Double($0) / 100) }.joined(separator: ",")
    try (0..<30).map { #"{"id":"ramp\#($0)","prompt_tokens":10,"difficulty":[\#(ds)]}"# + "\n" }.joined().write(
        toFile: dir + "/ramp.jsonl", atomically: true, encoding: .utf8)
    try handComputableScenarioYAML(
        trace: "ramp.jsonl", policy: "name: splitreason, offload_threshold: 0.5, min_segment_tokens: 1, mode: sequential"
    )
    .replacingOccurrences(of: "rate_rps: 1}", with: "rate_rps: 0.1}")
    .write(toFile: dir + "/ramp.yaml", atomically: true, encoding: .utf8)
    return dir + "/ramp.yaml"
}

/// The M/M/c trace of the capacity tests: 4,000 requests without prompt whose output lengths are
/// geometric with mean 100 (p = 0.01), so 10 ms per token gives exponential-like service of 1 s.
func writeGeometricTrace(to path: String) throws {
    let rng = RandomStream(seed: 11, name: "geometric")
    var lines = ""
    for i in 0..<4000 {
        var k = 1
        while rng.uniform() >= 0.01 { k += 1 }
        lines +=
            #"{"id":"r\#(i)","prompt_tokens":0,"difficulty":[\#(Array(repeating: "0", count: k).joined(separator: ","))]}"#
            + "\n"
    }
    try lines.write(toFile: path, atomically: true, encoding: .utf8)
}

/// Erlang C's highest offered load (req/s at service rate 1) with P(wait) ≤ `p` on `servers`
/// servers, bisected to machine precision.
func erlangCHeadroom(servers: Int, maxWaitProbability p: Double) -> Double {
    var lo = 0.0
    var hi = Double(servers)
    for _ in 0..<60 {
        let m = (lo + hi) / 2
        if ErlangC.probabilityOfWaiting(servers: servers, offeredLoad: m) <= p { lo = m } else { hi = m }
    }
    return lo
}
