import HandoffSupport

/// A number format for weights or the KV cache (`models.<m>.weight_dtype`, `kv_dtype`).
///
/// Weights: bf16/fp16 (2 bytes), fp8 and int8 (1 byte; vLLM's `--quantization fp8`, or a W8A8
/// int8 checkpoint), int4 (GPTQ/AWQ: 4 bits plus an fp16 scale per group of 128 weights, 0.515625
/// bytes). The weight format also chooses the GEMM peak (`GPUSpec.peakTFLOPS`): fp8 and int8 run
/// on the GPU's FP8 / INT8 tensor cores (W8A8) where the catalogue has a figure, else at the BF16
/// peak (vLLM runs FP8 weight-only on Ampere through Marlin); int4 is weight-only (W4A16), so its
/// compute stays at the BF16 peak while it reads a quarter of the bytes.
/// KV cache: bf16/fp16, or fp8 (vLLM's `--kv-cache-dtype fp8`), 1 byte per element.
public enum Dtype: String, Sendable, CaseIterable {
    case bf16, fp16, fp8, int8, int4

    /// Bytes per element.
    public var bytes: Double {
        switch self {
        case .bf16, .fp16: return 2
        case .fp8, .int8: return 1
        case .int4: return 0.5 + 2.0 / 128
        }
    }

    /// The formats a KV cache can take (vLLM's `--kv-cache-dtype`: auto, fp8).
    public static let kvCases: [Dtype] = [.bf16, .fp16, .fp8]
}

extension GPUSpec {
    /// The dense tensor-core peak (TFLOPS, or TOPS for int8) a model whose weights are in `d` runs
    /// its GEMMs at: FP8 / INT8 where known, else the BF16 peak (weight-only quantisation).
    public func peakTFLOPS(_ d: Dtype) -> Double {
        switch d {
        case .fp8: return fp8TFLOPS ?? tflops
        case .int8: return int8TOPS ?? tflops
        case .bf16, .fp16, .int4: return tflops
        }
    }
}
