import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// `HFConfig` on the configs in Scenarios/models/ against the sizes their authors publish, and
/// by hand where a published figure rounds. (The four models with a local GGUF file are checked
/// to the parameter in EngineTests.testHFConfigsCountTheGGUFTensors.)
final class HFConfigTests: XCTestCase {
    func shape(_ file: String) throws -> HFConfig.Shape {
        try HFConfig.read(path: packageRoot + "/Scenarios/models/" + file)
    }

    func testDenseModelsByHand() throws {
        // Llama-3.1-8B: 32 × (attention 41,943,040 + MLP 176,160,768 + norms 8,192) + 2 × 128256 · 4096 + 4096.
        let llama = try shape("llama-3.1-8b.json")
        XCTAssertEqual(llama.parameters, 8_030_261_248, "Meta: 8.03 B")
        XCTAssertEqual(llama.activeParameters, 8_030_261_248 - 128_256 * 4096, "the input embedding is a lookup")
        XCTAssertEqual([llama.layers, llama.heads, llama.kvHeads, llama.headDim, llama.hidden], [32, 32, 8, 128, 4096])
        XCTAssertEqual(try shape("phi-3-mini-4k-instruct.json").parameters, 3_821_079_552, "Microsoft: 3.8 B")
        // Qwen3-8B: q/k norms of 128 each, no biases, head_dim given.
        XCTAssertEqual(try shape("qwen3-8b.json").parameters, 8_190_735_360, "Qwen: 8.2 B")
    }

    func testMixturesOfExperts() throws {
        let mixtral = try shape("mixtral-8x7b-v0.1.json")
        XCTAssertEqual(Double(mixtral.parameters) / 1e9, 46.7, accuracy: 0.05, "Mistral: 46.7 B")
        // 12.9 B published counts the input embedding (0.131 B).
        XCTAssertEqual(
            Double(mixtral.activeParameters + 32000 * 4096) / 1e9, 12.9, accuracy: 0.05, "Mistral: 12.9 B active")
        let qwen = try shape("qwen3-30b-a3b.json")
        XCTAssertEqual(Double(qwen.parameters) / 1e9, 30.5, accuracy: 0.05, "Qwen: 30.5 B")
        XCTAssertEqual(Double(qwen.activeParameters + 151_936 * 2048) / 1e9, 3.3, accuracy: 0.06, "Qwen: 3.3 B active")
        let ds = try shape("deepseek-v3.json")
        XCTAssertEqual(ds.parameters, 671_026_419_200, "DeepSeek: 671 B without the MTP module")
        XCTAssertEqual(Double(ds.activeParameters + 129_280 * 7168) / 1e9, 37, accuracy: 0.6, "DeepSeek: 37 B active")
        // MLA: one latent of kv_lora_rank + qk_rope_head_dim per layer and token.
        XCTAssertEqual(ds.mlaKVWidth, 576)
        XCTAssertEqual(ds.headDim, (128 + 64 + 128) / 2)
    }

    /// In a scenario: memory follows every parameter, the roofline's FLOPs the active ones, and
    /// MLA's KV is the latent's.
    func testScenarioUsesActiveParametersAndMLA() throws {
        let sc = try scenario(
            """
            trace: {synthetic: {requests: 2}}
            models: {small: {hf_config: Scenarios/models/deepseek-v3.json, weight_bytes: 1}}
            tiers: {small: {gpu: H200-141GB, tensor_parallel: 8}}
            policy: {name: small-only}
            """)
        let m = sc.tiers[0].model
        XCTAssertEqual(m.weightMemory, 671_026_419_200, accuracy: 1)
        XCTAssertEqual(try XCTUnwrap(m.activeParamsB), 36.625618432, accuracy: 1e-9)
        XCTAssertEqual(m.kvBytesPerToken, 61 * 576 * 2, "bf16 latent per layer")
        // 58 MoE layers × 256 routed experts × 3 · 7168 · 2048.
        XCTAssertEqual(m.routedExpertParamsB, 653.908770816, accuracy: 1e-9)
        XCTAssertEqual([m.experts, m.expertsPerToken], [256, 8])
        // A decode step of one sequence with no context is weight-bound: it reads the dense
        // weights and the experts it touches, 1 − (1 − 8/256) of them; 2 · 36.6 G FLOPs run. At
        // tensor parallelism 8 each step also pays its all-reduces: 2 · 61 layers of 40 µs plus
        // 2 · 7/8 · tokens · 7168 · 2 bytes over 60% of NVLink 4's 450 GB/s.
        let gpu = sc.tiers[0].gpu
        let lm = LatencyModel(spec: .roofline(mfu: 1, mbu: 1, overheadMs: 0), model: m, gpu: gpu, tensorParallel: 8)
        XCTAssertEqual(
            lm.allReduceSeconds(tokens: 1), 122 * (40e-6 + 1.75 * 7168 * 2 / (450e9 * 0.6)), accuracy: 1e-15)
        func step(_ seqs: Int) -> Double {
            var load = IterationLoad()
            load.decodeSeqs = seqs
            return lm.seconds(load)
        }
        let dense = 671_026_419_200 - 653_908_770_816.0
        XCTAssertEqual(
            step(1),
            max(
                2 * 36.625618432e9 / (8 * gpu.tflops * 1e12),
                (dense + 653_908_770_816 * 8 / 256) / (8 * gpu.bandwidthGBs * 1e9)) + lm.allReduceSeconds(tokens: 1),
            accuracy: 1e-12)
        // 64 sequences touch 1 − (248/256)^64 = 86.9% of the experts.
        let touched: Double = 1 - Foundation.pow(Double(248) / 256, Double(64))
        XCTAssertEqual(touched, 0.869, accuracy: 0.001)
        XCTAssertEqual(
            step(64),
            max(
                2 * 64 * 36.625618432e9 / (8 * gpu.tflops * 1e12),
                (dense + 653_908_770_816 * touched) / (8 * gpu.bandwidthGBs * 1e9)) + lm.allReduceSeconds(tokens: 64),
            accuracy: 1e-12)
        // A dense model reads all its weights at any batch.
        XCTAssertEqual(
            try scenario(
                "trace: {synthetic: {requests: 2}}\nmodels: {small: {hf_config: Scenarios/models/llama-3.1-8b.json}}\ntiers: {small: {gpu: H100-SXM-80GB}}\npolicy: {name: small-only}\n"
            ).tiers[0].model.experts, 0)
    }

    func testErrorsNameTheField() throws {
        let dir = tempDir()
        func write(_ s: String) throws -> String {
            let p = dir + "/c.json"
            try s.write(toFile: p, atomically: true, encoding: .utf8)
            return p
        }
        XCTAssertThrowsError(try HFConfig.read(path: try write(#"{"model_type": "mamba", "hidden_size": 8}"#))) { e in
            XCTAssert("\(e)".contains("mamba") && "\(e)".contains("qwen3_moe"), "\(e)")
            XCTAssertEqual((e as? HandoffError)?.exitCode, 2)
        }
        XCTAssertThrowsError(
            try HFConfig.read(
                path: try write(
                    #"{"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}"#
                ))
        ) { e in
            XCTAssert("\(e)".contains("intermediate_size"), "\(e)")
        }
        XCTAssertThrowsError(
            try HFConfig.read(
                path: try write(
                    #"{"model_type": "mixtral", "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10, "intermediate_size": 4}"#
                ))
        ) { e in
            XCTAssert("\(e)".contains("num_local_experts"), "\(e)")
        }
        XCTAssertThrowsError(try HFConfig.read(path: try write("{not json"))) { e in
            XCTAssert("\(e)".contains("not JSON"), "\(e)")
        }
    }
}
