import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// The shipped catalogue: what it holds, where each figure comes from, and that the models read
/// from configs come out at the sizes their authors publish.
final class CatalogTests: XCTestCase {
    let c = Catalog.builtin

    func file(_ path: String) throws -> String { try String(contentsOfFile: packageRoot + "/" + path, encoding: .utf8) }

    func testEmbeddedCatalogueEqualsTheFiles() throws {
        XCTAssertEqual(Catalog.gpusCSV, try file("Scenarios/catalog/gpus.csv"), "run scripts/embed-catalog")
        XCTAssertEqual(Catalog.modelsCSV, try file("Scenarios/catalog/models.csv"), "run scripts/embed-catalog")
        for (name, text) in Catalog.modelConfigs {
            XCTAssertEqual(text, try file("Scenarios/models/" + name), "run scripts/embed-catalog")
        }
    }

    /// The list: 30+ models across the families teams deploy, 15+ GPUs, a source for each.
    func testCoverageAndSources() {
        XCTAssertGreaterThanOrEqual(c.models.count, 30)
        XCTAssertGreaterThanOrEqual(c.gpus.count, 15)
        for name in [
            "Llama-3.1-8B", "Llama-3.1-70B", "Llama-3.1-405B", "Llama-3.2-1B", "Llama-3.2-3B", "Llama-3.3-70B-Instruct",
            "Qwen2.5-0.5B", "Qwen2.5-72B", "Qwen3-0.6B", "Qwen3-32B", "Qwen3-30B-A3B", "Qwen3-235B-A22B",
            "DeepSeek-R1-Distill-Qwen-7B", "DeepSeek-R1-Distill-Llama-70B", "DeepSeek-V3", "Mistral-7B-v0.3",
            "Mixtral-8x7B-v0.1", "Mixtral-8x22B-v0.1", "Gemma-2-9B", "Gemma-3-27B", "Phi-3-mini-4k-instruct", "Phi-4",
            "Qwen2.5-Coder-0.5B-Instruct", "Qwen2.5-Coder-1.5B-Instruct"
        ] {
            XCTAssertNotNil(c.models[name], name)
        }
        for name in [
            "B200-180GB", "GB200-186GB", "H200-141GB", "H100-SXM-80GB", "H100-PCIe-80GB", "H20-96GB", "A100-SXM-40GB",
            "A100-SXM-80GB", "L40S-48GB", "L4-24GB", "A10G-24GB", "T4-16GB", "RTX-4090-24GB", "A6000-48GB",
            "MI300X-192GB", "MI325X-256GB"
        ] {
            XCTAssertNotNil(c.gpus[name], name)
        }
        for m in c.models.values { XCTAssertTrue(m.source.hasPrefix("shape: "), "\(m.name): \(m.source)") }
        for g in c.gpus.values {
            XCTAssertTrue(g.source.hasPrefix("specs: ") && g.source.contains("price: "), "\(g.name): \(g.source)")
            XCTAssertTrue(g.memoryGiB > 0 && g.memoryBandwidthGBs > 0 && g.bf16TFLOPS > 0, g.name)
        }
    }

    /// Parameter counts from the transcribed configs against the sizes the model cards publish
    /// (rounded there, so within 1%; Gemma 3's cards count the vision tower, these the text
    /// model: 4.3/12.2/27.4 B less ~0.4 B).
    func testConfigModelsMatchPublishedSizes() throws {
        let published: [(String, Double)] = [
            ("Llama-3.1-70B", 70.6), ("Llama-3.1-405B", 405.9), ("Llama-3.2-1B", 1.24), ("Llama-3.2-3B", 3.21),
            ("Qwen2.5-7B", 7.61), ("Qwen2.5-14B", 14.7), ("Qwen2.5-72B", 72.7), ("Qwen3-0.6B", 0.6),
            ("Qwen3-1.7B", 1.72), ("Qwen3-4B", 4.02), ("Qwen3-14B", 14.8), ("Qwen3-32B", 32.8),
            ("Qwen3-235B-A22B", 235.1), ("Mistral-7B-v0.3", 7.25), ("Mixtral-8x22B-v0.1", 140.6),
            ("Gemma-2-2B", 2.61), ("Gemma-2-9B", 9.24), ("Gemma-2-27B", 27.2), ("Gemma-3-1B", 1.0),
            ("Gemma-3-4B", 3.88), ("Gemma-3-12B", 11.8), ("Gemma-3-27B", 27.0), ("Phi-3-medium-4k-instruct", 14.0),
            ("Phi-4", 14.7)
        ]
        for (name, b) in published {
            let m = try XCTUnwrap(c.models[name], name)
            XCTAssertEqual(m.paramsB / b, 1, accuracy: 0.01, "\(name): \(m.paramsB) B")
        }
        // Hand count, Llama-3.1-70B: 80 × (attention 2·8192·64·128 + 2·8192·8·128, MLP 3·8192·28672,
        // norms 2·8192) + untied embeddings 2·128256·8192 + final norm 8192.
        let layer = 2 * 8192 * 64 * 128 + 2 * 8192 * 8 * 128 + 3 * 8192 * 28672 + 2 * 8192
        XCTAssertEqual(
            c.models["Llama-3.1-70B"]!.paramsB * 1e9, Double(80 * layer + 2 * 128256 * 8192 + 8192), accuracy: 1)
        // Mixtures of experts keep their active share: Qwen3-235B-A22B runs 8 of 128 experts, Mixtral 2 of 8.
        XCTAssertEqual(try XCTUnwrap(c.models["Qwen3-235B-A22B"]!.activeParamsB), 21.57, accuracy: 0.01)
        XCTAssertEqual([c.models["Qwen3-235B-A22B"]!.experts, c.models["Qwen3-235B-A22B"]!.expertsPerToken], [128, 8])
        XCTAssertEqual(try XCTUnwrap(c.models["Mixtral-8x22B-v0.1"]!.activeParamsB), 38.96, accuracy: 0.01)
        XCTAssertEqual(c.models["DeepSeek-V3"]!.paramsB, 671.026_419_2, accuracy: 1e-6)
        // A dense model's per-token FLOPs skip the input embedding lookup (untied: 128256 · 8192).
        XCTAssertEqual(
            try XCTUnwrap(c.models["Llama-3.1-70B"]!.activeParamsB) * 1e9,
            c.models["Llama-3.1-70B"]!.paramsB * 1e9 - 128256 * 8192, accuracy: 1)
    }

    /// The rows every shipped scenario runs on keep their figures.
    func testShapeRowsUnchanged() {
        XCTAssertEqual(c.models["DeepSeek-R1-Distill-Qwen-1.5B"]?.paramsB, 1.78)
        XCTAssertEqual(c.models["DeepSeek-R1-Distill-Qwen-14B"]?.paramsB, 14.8)
        XCTAssertEqual(c.gpus["H100-SXM-80GB"]?.usdPerHour, 3.00)
        XCTAssertEqual(c.gpus["L4-24GB"]?.bf16TFLOPS, 121)
    }

    /// A catalogue model by name brings its mixture-of-experts shape into the scenario.
    func testCatalogueMoEModelInAScenario() throws {
        let sc = try ScenarioLoader.load(
            path: nil,
            overrides: [
                "models.large.name=Qwen3-235B-A22B", "tiers.large.gpu=MI325X-256GB",
                "tiers.large.tensor_parallel=2"
            ])
        let m = sc.tiers[1].model
        XCTAssertEqual(m.paramsB, c.models["Qwen3-235B-A22B"]!.paramsB)
        XCTAssertEqual(try XCTUnwrap(m.activeParamsB), 21.57, accuracy: 0.01)
        XCTAssertEqual(m.experts, 128)
        XCTAssertEqual(sc.tiers[1].gpu.memoryGiB, 256)
        XCTAssertEqual(sc.tiers[1].cost.usdPerGpuHour, 2.25)
    }

    /// No public price: the GPU is usable once the scenario prices it, and an error says so otherwise.
    func testGPUWithoutAListPriceNeedsOne() throws {
        XCTAssertThrowsError(try ScenarioLoader.load(path: nil, overrides: ["tiers.large.gpu=H20-96GB"])) { e in
            XCTAssertTrue("\(e)".contains("cost.large.usd_per_gpu_hour"), "\(e)")
        }
        let sc = try ScenarioLoader.load(
            path: nil, overrides: ["tiers.large.gpu=H20-96GB", "cost.large.usd_per_gpu_hour=1.4"])
        XCTAssertEqual(sc.tiers[1].cost.usdPerGpuHour, 1.4)
    }
}
