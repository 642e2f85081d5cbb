import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `llm-modules`: a knowledge source colocated with a small generator on one GPU.
final class LLMModulesTests: XCTestCase {
    /// The hand-computable laws (small f=1, a=0.1, b=10; large f=2, a=0.2) with the large tier on
    /// the small tier's GPU: no network between them. Prompt 100, 20 output tokens.
    func run(_ policy: String) throws -> RequestOutcome {
        let dir = tempDir()
        try (SingleRequestTests.traceLine + "\n").write(toFile: dir + "/t.jsonl", atomically: true, encoding: .utf8)
        let yaml = handComputableScenarioYAML(trace: dir + "/t.jsonl", policy: policy)
            .replacingOccurrences(
                of: "  small: {gpu: A100-SXM-80GB,", with: "  small: {gpu: A100-SXM-80GB, gpu_memory_utilization: 0.45,"
            )
            .replacingOccurrences(
                of: "  large: {gpu: A100-SXM-80GB,",
                with: "  large: {gpu: A100-SXM-80GB, colocate_with: small, gpu_memory_utilization: 0.45,")
        let r = try Simulation.run(try scenario(yaml))
        return r.outcome.requests[0]
    }

    /// prompt: the source prefills 100 (2 + 20 = 22 ms); the generator prefills 100 (11) and
    /// decodes 19 (19 × 11): 242 ms, first token at 33.
    /// per_token, no KV cache: before token t the source runs over all 100 + t tokens
    /// (2 + 0.2·(100 + t)); the generator prefills 100 once (11), then feeds 1 token per step (1.1):
    /// Σ(22 + 0.2t) + 11 + 19·1.1 = 478 + 31.9 = 509.9 ms.
    /// per_token with a KV cache: the source reads 100 once (22), then 1 token per step (2.2): 95.7 ms.
    func testSingleRequestHandComputed() throws {
        let prompt = try run("name: llm-modules, variant: prompt")
        XCTAssertEqual(prompt.ttftS * 1000, 33, accuracy: 1e-9)
        XCTAssertEqual(prompt.e2elS * 1000, 242, accuracy: 1e-9)
        XCTAssertEqual(prompt.outputTokens, 20)
        let full = try run("name: llm-modules, variant: per_token, source_kv_cache: false")
        XCTAssertEqual(full.e2elS * 1000, 440 + 0.2 * 190 + 11 + 19 * 1.1, accuracy: 1e-9)
        XCTAssertEqual(full.ttftS * 1000, 33, accuracy: 1e-9)
        let cached = try run("name: llm-modules, variant: per_token, source_kv_cache: true")
        XCTAssertEqual(cached.e2elS * 1000, 22 + 19 * 2.2 + 11 + 19 * 1.1, accuracy: 1e-9)
        XCTAssertEqual(full.outputTokens, 20)
        XCTAssertEqual(full.offloadedTokens, 0)
    }

    /// Per-token knowledge costs at least one large-model decode step per generated token beyond
    /// the first (at the prompt's context, the cheapest), over the prompt-only variant, with and
    /// without the source's KV cache; and the reference's recomputation costs no less than the cache
    /// (on an L4 both are weight-bandwidth bound at these short contexts, so they tie here).
    func testPerTokenCostsAtLeastALargeDecodeStepPerToken() throws {
        let path = packageRoot + "/Scenarios/llm-modules-l4.yaml"
        let base = ["trace.synthetic.requests=6", "traffic.arrival=constant", "traffic.rate_rps=0.01"]
        let sc = try ScenarioLoader.load(path: path, overrides: base)
        let trace = try Simulation.loadTrace(sc)
        let large = sc.tiers[sc.tierIndex("large")!]
        let model = LatencyModel(
            spec: large.latency, model: large.model, gpu: large.gpu, tensorParallel: large.tensorParallel)
        let prompt = try Simulation.run(
            try ScenarioLoader.load(path: path, overrides: base + ["policy.variant=prompt"]), trace: trace
        ).outcome
        var previous: SimulationOutcome?
        for cache in [true, false] {
            let per = try Simulation.run(
                try ScenarioLoader.load(
                    path: path, overrides: base + ["policy.variant=per_token", "policy.source_kv_cache=\(cache)"]),
                trace: trace
            ).outcome
            for (p, q) in zip(per.requests, prompt.requests) {
                var load = IterationLoad()
                load.decodeSeqs = 1
                load.decodeContext = Double(trace.requests[p.traceIndex].promptTokens)
                let step = model.seconds(load)
                XCTAssertGreaterThanOrEqual(
                    p.e2elS - q.e2elS, Double(p.outputTokens - 1) * step, "request \(p.id), cache \(cache)")
                if let previous {
                    XCTAssertGreaterThanOrEqual(p.e2elS, previous.requests.first { $0.id == p.id }!.e2elS)
                }
            }
            previous = per
        }
    }

    /// Colocated tiers take turns on their GPU: their busy time never adds up to more than the span,
    /// and contention makes requests slower than on two GPUs.
    func testColocatedTiersShareTheDevice() throws {
        let path = packageRoot + "/Scenarios/llm-modules-l4.yaml"
        let load = ["trace.synthetic.requests=200", "traffic.rate_rps=3", "policy.source_kv_cache=true"]
        let shared = try Simulation.run(try ScenarioLoader.load(path: path, overrides: load))
        let o = shared.outcome
        XCTAssertEqual(o.stalledRequests, 0)
        XCTAssertLessThanOrEqual(o.tiers[0].busySeconds + o.tiers[1].busySeconds, o.endTime + 1e-9)
        XCTAssertGreaterThan(
            o.tiers[0].busySeconds + o.tiers[1].busySeconds, 0.5 * o.endTime, "the device should be contended")
        let apart = try Simulation.run(
            try ScenarioLoader.load(
                path: path, overrides: load + ["tiers.large.colocate_with=", "tiers.small.gpu_memory_utilization=0.9"]))
        XCTAssertGreaterThan(
            shared.summary.number(at: "latency_ms.e2el.mean")!, apart.summary.number(at: "latency_ms.e2el.mean")!)
        // Paid once: the colocated tier costs nothing of its own.
        XCTAssertEqual(shared.summary.number(at: "cost_usd.by_tier.large"), 0)
        XCTAssertGreaterThan(apart.summary.number(at: "cost_usd.by_tier.large")!, 0)
    }

    /// Memory: both models and the bridge are resident on the one GPU, within its memory.
    func testMemoryCoversBothModelsAndTheBridge() throws {
        let sc = try ScenarioLoader.load(
            path: packageRoot + "/Scenarios/llm-modules-l4.yaml", overrides: ["trace.synthetic.requests=50"])
        let gen = sc.tiers[sc.tierIndex("small")!].model
        let src = sc.tiers[sc.tierIndex("large")!].model
        let bridge = LLMModulesPolicy.bridgeParams(sourceHidden: 1536, hidden: 768, layers: 2)
        // projection 1536·768 + 768; adapter 2(768² + 768); K, V of 2 layers 4(768² + 768)
        let d = 768.0
        let sq = d * d + d
        XCTAssertEqual(bridge.perSource, 1536 * d + d + 6 * sq)
        // gate 2·768² + 768; Q, O of 2 layers 4(768² + 768)
        XCTAssertEqual(bridge.perToken, 2 * d * d + d + 4 * sq)
        XCTAssertEqual(gen.paramsB, 0.125 + bridge.perToken / 1e9, accuracy: 1e-12)
        XCTAssertEqual(src.paramsB, 1.54 + bridge.perSource / 1e9, accuracy: 1e-12)
        // GPT-Neo-125M's 36,864 KV bytes per token plus K and V of 2 cross-attention layers of 768 in bf16.
        XCTAssertEqual(gen.kvBytesPerToken, 36_864.0 + 6_144.0)
        let s = try Simulation.run(sc).summary
        let peaks = ["small", "large"].map { s.number(at: "memory_gib.\($0).peak")! }
        XCTAssertEqual(s["memory_gib"]?["large"]?["colocated_with"], .string("small"))
        XCTAssertLessThanOrEqual(peaks.reduce(0, +), 24)
        XCTAssertEqual(s.number(at: "memory_gib.large.weights")!, src.weightMemory / 1_073_741_824, accuracy: 1e-12)
    }

    func testColocationErrors() throws {
        let path = packageRoot + "/Scenarios/llm-modules-l4.yaml"
        XCTAssertThrowsError(try ScenarioLoader.load(path: path, overrides: ["tiers.small.gpu_memory_utilization=0.5"]))
        { e in
            XCTAssertTrue("\(e)".contains("add up to 1.10"), "\(e)")
        }
        XCTAssertThrowsError(try ScenarioLoader.load(path: path, overrides: ["tiers.large.gpu=A10G-24GB"])) { e in
            XCTAssertTrue("\(e)".contains("need the same gpu, replicas and tensor_parallel"), "\(e)")
        }
    }
}
