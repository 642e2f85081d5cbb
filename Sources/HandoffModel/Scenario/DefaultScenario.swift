import HandoffSupport

/// The default scenario, embedded so `handoff simulate` runs with no file. It must equal
/// `Scenarios/default.yaml` byte for byte (a test checks; regenerate with `scripts/embed-default`).
enum DefaultScenario {
    static let yaml = #"""
# The scenario `handoff simulate` runs with no argument (it is embedded in the binary).
# Small and large model on GPUs in one cloud region; a synthetic reasoning trace.
name: default
description: R1-Distill-Qwen-1.5B on one L4 offloading hard segments to R1-Distill-Qwen-14B on one H100, same region.
seed: 42
trace:
  synthetic:
    requests: 300
    prompt_tokens: {median: 250, sigma: 0.6, min: 16, max: 4096}
    output_tokens: {median: 2000, sigma: 0.5, min: 64, max: 16384}
    burst_rate_per_1k_tokens: 2
    burst_tokens_mean: 24
    small_accuracy: 0.29
    large_accuracy: 0.67
traffic:
  arrival: poisson
  rate_rps: 0.5
models:
  small: {name: DeepSeek-R1-Distill-Qwen-1.5B}
  large: {name: DeepSeek-R1-Distill-Qwen-14B}
tiers:
  small:
    gpu: L4-24GB
    replicas: 1
    max_num_seqs: 256
    max_num_batched_tokens: 8192
    latency: {kind: roofline, mfu: 0.5, mbu: 0.8, overhead_ms: 1}
  large:
    gpu: H100-SXM-80GB
    replicas: 1
    latency: {kind: roofline, mfu: 0.5, mbu: 0.8, overhead_ms: 1}
network:
  rtt_ms: {distribution: lognormal, median: 0.5, p99: 2}
  bandwidth_gbps: 25
policy:
  name: splitreason
  offload_threshold: 0.7
  min_segment_tokens: 8
  max_segment_tokens: 512
  mode: sequential
accuracy:
  difficulty_exponent: 2
slo:
  ttft_ms: 1000
  e2el_ms: 60000

"""#
}
