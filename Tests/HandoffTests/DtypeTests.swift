import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// Weight and KV number formats: bytes, the GEMM peak they run at, and the catalogue's figures.
final class DtypeTests: XCTestCase {
    func model(_ w: Dtype, kv: Dtype = .bf16) -> ModelSpec {
        var m = ModelSpec(
            name: "m", paramsB: 32.8, layers: 64, attentionHeads: 64, kvHeads: 8, headDim: 128, hidden: 5120,
            weightBytes: w.bytes, kvBytes: kv.bytes)
        (m.weightDtype, m.kvDtype) = (w, kv)
        return m
    }

    var h100: GPUSpec {
        try! ScenarioLoader.readGPUs(ConfigReader(ConfigNode.parse(yaml: "{}", origin: "t")), catalog: .builtin)["H100-SXM-80GB"]!
    }

    /// t = max(F / (peak(dtype) · mfu), (weights · bytes + KV) / (bandwidth · mbu)) + overhead, by hand
    /// for a 32.8B dense model on one H100: a 4,096-token prefill is compute-bound and FP8 halves
    /// it (1979 against 989 TFLOPS); one decode step is weight-bound and FP8 halves the bytes; int4
    /// reads 0.515625 bytes per weight but computes at the BF16 peak (W4A16).
    func testRooflineByDtypeByHand() {
        let spec = LatencySpec.roofline(mfu: 0.5, mbu: 0.8, overheadMs: 0)
        var prefill = IterationLoad()
        prefill.prefillTokens = 4096
        prefill.prefillAttention = 4096 * 2048
        var decode = IterationLoad()
        decode.decodeSeqs = 1
        let attn = 4.0 * 64 * 64 * 128
        for (d, peak) in [(Dtype.bf16, 989.0), (.fp8, 1979), (.int8, 1979), (.int4, 989)] {
            let lm = LatencyModel(spec: spec, model: model(d), gpu: h100, tensorParallel: 1)
            let flops = 2 * 32.8e9 * 4096 + attn * 4096 * 2048
            let kv = 2.0 * 64 * 8 * 128 * 2
            let bytes = 32.8e9 * d.bytes + kv * 4096
            XCTAssertEqual(lm.seconds(prefill), max(flops / (peak * 1e12 * 0.5), bytes / (3350e9 * 0.8)), accuracy: 1e-12, "\(d)")
            XCTAssertEqual(lm.seconds(decode), max(2 * 32.8e9 / (peak * 1e12 * 0.5), 32.8e9 * d.bytes / (3350e9 * 0.8)), accuracy: 1e-12, "\(d)")
        }
        XCTAssertEqual(Dtype.int4.bytes, 0.515625)
        // An A100 has no FP8 tensor cores: FP8 weights run weight-only at its BF16 peak.
        var a100 = h100
        (a100.tflops, a100.fp8TFLOPS, a100.int8TOPS) = (312, nil, 624)
        XCTAssertEqual(a100.peakTFLOPS(.fp8), 312)
        XCTAssertEqual(a100.peakTFLOPS(.int8), 624)
    }

    /// The scenario fields: bytes follow the format, the KV cache takes bf16/fp16/fp8 only, and a
    /// format beside bytes by hand is refused.
    func testScenarioFields() throws {
        let fam = try ScenarioFamily(path: nil, overrides: [])
        let s = try fam.scenario(["models.large.weight_dtype=fp8", "models.large.kv_dtype=fp8"])
        let large = s.tiers.first { $0.name == "large" }!.model
        XCTAssertEqual(large.weightBytes, 1)
        XCTAssertEqual(large.kvBytes, 1)
        XCTAssertEqual(large.weightDtype, .fp8)
        let base = try fam.scenario().tiers.first { $0.name == "large" }!.model
        XCTAssertEqual(large.weightMemory, base.weightMemory / 2, accuracy: 1)
        XCTAssertEqual(large.kvBytesPerToken, base.kvBytesPerToken / 2, accuracy: 1e-9)
        XCTAssertThrowsError(try fam.scenario(["models.large.kv_dtype=int4"])) {
            XCTAssertTrue("\($0)".contains("not one of bf16, fp16, fp8"), "\($0)")
        }
        XCTAssertThrowsError(try fam.scenario(["models.large.weight_dtype=fp8", "models.large.weight_bytes=1"])) {
            XCTAssertTrue("\($0)".contains("not both"), "\($0)")
        }
    }

    /// The catalogue's tensor-core figures: FP8 dense is twice BF16 dense on every Hopper,
    /// Blackwell, Ada and CDNA3 row that has one (the datasheets' ratio), INT8 equals FP8 where
    /// both exist, and the Ampere/Turing rows have INT8 but no FP8.
    func testCatalogueDtypeFigures() {
        for g in Catalog.builtin.gpus.values {
            if let f = g.fp8TFLOPS {
                XCTAssertEqual(f / g.bf16TFLOPS, 2, accuracy: 0.03, g.name)
                if let i = g.int8TOPS, !g.name.hasPrefix("RTX-4090") { XCTAssertEqual(i, f, g.name) }
            }
        }
        for n in ["A100-SXM-80GB", "A100-SXM-40GB", "A6000-48GB", "T4-16GB"] {
            XCTAssertNil(Catalog.builtin.gpus[n]!.fp8TFLOPS, n)
            XCTAssertNotNil(Catalog.builtin.gpus[n]!.int8TOPS, n)
        }
    }
}
