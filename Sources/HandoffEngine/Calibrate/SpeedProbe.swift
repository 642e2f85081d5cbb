import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// How fast a server decodes now, against the latency law a scenario was calibrated with.
///
/// A shared 2-core VM drifts: the same batch-1 decode probe on Qwen2.5-Coder-0.5B (one thread,
/// 48 tokens after a 64-token prompt) measured 21.7 to 39.3 ms per token over 20 back-to-back
/// repeats (median 25.1), and a calibration made minutes before a run can sit 20% off the speed
/// the run then sees. `handoff closed-loop` probes each server just before each cell and reports
/// the ratio, so a latency miss can be told apart from the machine changing speed under it.
///
/// The probe is `handoff calibrate`'s batch-1 decode probe: `repeats` requests one after another,
/// each a random-token prompt of `context` tokens (no prefix reuse) and `tokens` greedy tokens
/// with `ignore_eos`; the server's `predicted_ms / predicted_n` per request, median over repeats.
/// The law's figure is one iteration with one sequence reading `context + tokens/2` tokens.
public struct SpeedProbe: Sendable {
    public var context = 32
    public var tokens = 64
    public var repeats = 3
    public var topLogprobs = 0
    public var seed: UInt64 = 7

    public init() {}

    public struct Reading: Sendable, Equatable {
        /// Median measured ms per decoded token.
        public var measuredMs: Double
        /// The calibrated law's ms per token for the same probe.
        public var lawMs: Double
        /// measured / law: above 1 the server is slower now than its calibration says.
        public var ratio: Double { measuredMs / lawMs }
    }

    /// The law's ms per token for the probe.
    public func lawMs(_ latency: LatencyModel) -> Double {
        var load = IterationLoad()
        load.decodeSeqs = 1
        load.decodeContext = Double(context) + Double(tokens) / 2
        return latency.seconds(load) * 1000
    }

    /// Runs the probe. `salt` varies the random prompts between probes of one run.
    public func measure(_ client: OpenAIClient, latency: LatencyModel, salt: UInt64 = 0) async throws -> Reading {
        let rng = RandomStream(seed: seed &+ salt, name: "speed-probe")
        var ms: [Double] = []
        for _ in 0..<max(1, repeats) {
            var r = CompletionRequest(prompt: "", maxTokens: tokens, topLogprobs: topLogprobs, ignoreEOS: true)
            r.promptTokenIDs = Calibrator.randomTokens(context, rng)
            r.cachePrompt = false
            let res = try await client.complete(r)
            guard let t = res.timings, t.predictedTokens > 0 else {
                throw HandoffError(
                    "\(client.base): the speed probe got no `timings` (llama.cpp's) in its answer", exitCode: 1)
            }
            ms.append(t.predictedMs / Double(t.predictedTokens))
        }
        return Reading(measuredMs: Statistics.median(ms), lawMs: lawMs(latency))
    }
}

/// `speed.jsonl` of `handoff closed-loop`: one line per probe, `{"cell", "tier", "decode_ms",
/// "calibrated_ms"}`, appended as probes finish. The last line for a cell and tier wins; a line
/// cut short by a kill does not parse and is skipped.
enum SpeedLog {
    /// Probes the server of each of `roles` that has a client (with `topLogprobs[tier]` top
    /// log-probabilities, as the run requests them) and appends the readings to `path`. A probe that
    /// fails (no `timings` in the answer: vLLM, SGLang) is left out; the cell still runs.
    static func probe(
        clients: [String: OpenAIClient], scenario sc: Scenario, roles: [String], topLogprobs: [String: Int],
        cell: String, path: String
    ) async throws {
        for (k, tier) in roles.enumerated() {
            guard let client = clients[tier], let t = sc.tierIndex(tier).map({ sc.tiers[$0] }) else { continue }
            var probe = SpeedProbe()
            probe.topLogprobs = topLogprobs[tier] ?? 0
            let law = LatencyModel(spec: t.latency, model: t.model, gpu: t.gpu, tensorParallel: t.tensorParallel)
            var salt: UInt64 = UInt64(k)
            for b in cell.utf8 { salt = salt &* 31 &+ UInt64(b) }
            guard let r = try? await probe.measure(client, latency: law, salt: salt) else { continue }
            try append(path, cell: cell, tier: tier, reading: r)
        }
    }

    static func append(_ path: String, cell: String, tier: String, reading r: SpeedProbe.Reading) throws {
        let line =
            JSONWriter.write(
                .object([
                    ("cell", .string(cell)), ("tier", .string(tier)),
                    ("decode_ms", .number(r.measuredMs)), ("calibrated_ms", .number(r.lawMs))
                ])) + "\n"
        if !FileManager.default.fileExists(atPath: path) { try FileIO.writeAtomically("", to: path) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? h.close() }
        h.seekToEndOfFile()
        h.write(Data(line.utf8))
    }

    static func read(_ path: String) throws -> [String: [String: SpeedProbe.Reading]] {
        guard FileManager.default.fileExists(atPath: path) else { return [:] }
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        var out: [String: [String: SpeedProbe.Reading]] = [:]
        for line in text.split(separator: "\n") {
            guard let v = try? JSONParser.parse(String(line)), case .string(let cell)? = v["cell"],
                case .string(let tier)? = v["tier"],
                case .number(let m)? = v["decode_ms"], case .number(let l)? = v["calibrated_ms"]
            else { continue }
            out[cell, default: [:]][tier] = SpeedProbe.Reading(measuredMs: m, lawMs: l)
        }
        return out
    }
}
