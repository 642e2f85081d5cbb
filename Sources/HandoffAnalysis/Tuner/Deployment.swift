import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// A deployable answer: for a configuration of a scenario, each GPU tier's `vllm serve` line, the
/// Handoff scenario that reproduces the prediction, and the `vllm bench serve` command whose
/// result `handoff compare` checks against it (`tune --out DIR` writes them to `DIR/deploy/`).
public struct Deployment: Sendable {
    /// `serve.sh`, `scenario.yaml`, `bench.sh`, each with its text.
    public var files: [(name: String, text: String)]
    /// The `vllm serve` lines, one per GPU tier (or pool) the configuration pays for.
    public var serveLines: [String]

    /// The deployment of `family` with `overrides` (a tuner's `path=value` configuration), whose
    /// simulated `summary` the search already has (its offered rate goes into the benchmark).
    public init(family: ScenarioFamily, overrides: [String], summary: JSONValue) throws {
        let s = try family.scenario(overrides)
        var serve = [
            "#!/bin/sh", "# vLLM launch lines for \(s.name) as Handoff predicted it: handoff simulate \(Self.reproduce(family, overrides))",
            "# One line per tier (per pool when split); run each on its own GPUs, `replicas` times behind a",
            "# least-loaded load balancer. Ports are placeholders."
        ]
        var lines: [String] = []
        var port = 8000
        for t in s.billedGPUTiers {
            for pool in t.pools {
                let line = Self.vllmServe(pool, port: port)
                serve += Self.comments(t, pool, s) + [line]
                lines.append(line)
                port += 1
            }
        }
        let roles = s.policy.roles
        if Set(roles).count > 1 {
            serve.append(
                "# The policy (\(s.policy.name)) runs in your router between the tiers; vLLM has no flag for it. Its fields: \(Self.policyFields(s)).")
        }
        let trace = try family.trace(s, overrides)
        let n = max(1, trace.count)
        let meanIn = trace.requests.reduce(0) { $0 + $1.promptTokens } / n
        let meanOut = trace.totalOutputTokens / n
        let rate = summary.number(at: "stability.offered_rps") ?? s.traffic.rateRps
        let entry = s.tiers.first { $0.name == roles[s.policy.servingRoles.first ?? 0] }
        let bench = [
            "#!/bin/sh", "# Measure the deployment, then compare with Handoff's prediction for the same workload.",
            "# Point --base-url at your router (or the single tier); the lengths are this trace's means.",
            "vllm bench serve --backend openai --base-url http://127.0.0.1:8000 --endpoint /v1/completions \\",
            "  --model \(Self.huggingFaceID(entry?.model.name ?? "MODEL")) --dataset-name random \\",
            "  --random-input-len \(meanIn) --random-output-len \(meanOut) --num-prompts \(trace.count) \\",
            "  --request-rate \(HumanNumber.format(rate)) --save-result --save-detailed --result-filename measured.json \\",
            "  --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99",
            "handoff compare measured.json \"$(dirname \"$0\")/scenario.yaml\""
        ]
        files = [
            ("serve.sh", serve.joined(separator: "\n") + "\n"),
            ("scenario.yaml", Self.scenarioYAML(family, overrides, s)),
            ("bench.sh", bench.joined(separator: "\n") + "\n")
        ]
        serveLines = lines
    }

    /// `vllm serve` for one tier or pool.
    static func vllmServe(_ t: TierSpec, port: Int) -> String {
        var a = ["vllm serve \(huggingFaceID(t.model.name))"]
        a.append("--tensor-parallel-size \(t.tensorParallel)")
        a.append("--max-num-seqs \(t.maxNumSeqs) --max-num-batched-tokens \(t.maxNumBatchedTokens)")
        a.append("--gpu-memory-utilization \(JSONWriter.number(t.gpuMemoryUtilization))")
        a.append("--dtype \(t.model.weightDtype == .fp16 ? "float16" : "bfloat16")")
        if t.model.weightDtype == .fp8 { a.append("--quantization fp8") }
        if t.model.kvDtype == .fp8 { a.append("--kv-cache-dtype fp8") }
        if t.requestPrefixCache { a.append("--enable-prefix-caching") }
        a.append("--port \(port)")
        return a.joined(separator: " ")
    }

    /// What the line cannot say: replicas, GPUs, checkpoints for int4/int8, split pools.
    static func comments(_ tier: TierSpec, _ pool: TierSpec, _ s: Scenario) -> [String] {
        var c = [
            "", "# tier \(tier.name)\(tier.disaggregation != nil ? " (a pool of the split tier: add vLLM's --kv-transfer-config for disaggregated prefill)" : ""): \(pool.replicas) replica\(pool.replicas == 1 ? "" : "s") × \(pool.tensorParallel) \(pool.gpu.name)"
        ]
        switch pool.model.weightDtype {
        case .int4: c.append("# int4 weights: serve a GPTQ/AWQ checkpoint of the model (vLLM reads its quantisation method from it)")
        case .int8: c.append("# int8 weights: serve a W8A8 int8 checkpoint (compressed-tensors); vLLM reads the method from it")
        default: break
        }
        if huggingFaceID(pool.model.name) == pool.model.name {
            c.append("# '\(pool.model.name)' is not in the catalogue with a Hugging Face id: put the model's id or local path")
        }
        return c
    }

    /// The catalogue's Hugging Face id for a model (`huggingface.co/ORG/NAME` in its source), or the name.
    static func huggingFaceID(_ name: String) -> String {
        guard let src = Catalog.builtin.models[name]?.source, let r = src.range(of: "huggingface.co/") else {
            return name
        }
        // ORG/NAME: the id's own characters, up to the next "/" or punctuation.
        let id = src[r.upperBound...].prefix { $0.isLetter || $0.isNumber || "/._-".contains($0) }
        let parts = id.split(separator: "/")
        return parts.count >= 2 ? "\(parts[0])/\(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: ".")))" : name
    }

    static func policyFields(_ s: Scenario) -> String {
        guard let p = s.source["policy"], p.isMap else { return "see the scenario" }
        return p.entries.compactMap { e in e.value.scalar.map { "\(e.key) \($0)" } }.joined(separator: ", ")
    }

    /// `SCENARIO --set a=b …`: the command line that reproduces the prediction.
    static func reproduce(_ family: ScenarioFamily, _ overrides: [String]) -> String {
        ([family.path ?? ""] + (family.baseOverrides + overrides).map { "--set '\($0)'" }).filter { !$0.isEmpty }
            .joined(separator: " ")
    }

    /// The scenario with the configuration applied, its file paths made absolute so it loads
    /// from anywhere.
    static func scenarioYAML(_ family: ScenarioFamily, _ overrides: [String], _ s: Scenario) -> String {
        let root = s.source
        for key in ["trace.file", "policy.closed_loop"] { absolutise(root, key, family.baseDir) }
        for section in ["models", "tiers", "engine"] {
            for e in root[section]?.entries ?? [] {
                for k in ["gguf", "hf_config", "latency.calibration", "latency.csv", "ca_file"] {
                    absolutise(root, "\(section).\(e.key).\(k)", family.baseDir)
                }
            }
        }
        return "# Handoff's scenario for this deployment: handoff simulate \(reproduce(family, overrides))\n" + root.yaml()
    }

    static func absolutise(_ root: ConfigNode, _ path: String, _ baseDir: String) {
        guard let v = root.node(at: path)?.scalar, !v.hasPrefix("/") else { return }
        try? root.apply(override: "\(path)=\(JSONWriter.quote(baseDir + "/" + v))")
    }
}
