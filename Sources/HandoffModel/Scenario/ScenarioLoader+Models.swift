import Foundation
import HandoffSupport

extension ScenarioLoader {
    /// One `models.<key>` entry: a catalogue model, a Hugging Face config (`hf_config`), a GGUF
    /// header (`gguf`), or a shape by hand; fields given beside a source win over it.
    static func model(_ m: ConfigReader, key: String, baseDir: String, catalog: Catalog) throws -> ModelSpec {
        let base = try m.optionalString("name")
        // A GGUF file's header gives the whole shape (GGUFHeader); fields given beside it win.
        var gg = try m.optionalString("gguf").map { g -> ModelSpec in
            let path = try m.existingPath("gguf", g, baseDir: baseDir)
            return try GGUFHeader.read(path: path).modelSpec(path: path)
        }
        // A Hugging Face config.json: the shape and the parameter counts (HFConfig).
        if let file = try m.optionalString("hf_config") {
            if gg != nil { throw m.error("give gguf or hf_config, not both", key: "hf_config") }
            let path = try m.existingPath("hf_config", file, baseDir: baseDir)
            let c = try HFConfig.read(path: path)
            var h = ModelSpec(
                name: base ?? key, paramsB: Double(c.parameters) / 1e9, layers: c.layers, attentionHeads: c.heads,
                kvHeads: c.kvHeads,
                headDim: c.headDim, hidden: c.hidden, weightBytes: 2, kvBytes: 2)
            h.activeParamsB = Double(c.activeParameters) / 1e9
            h.mlaKVWidth = c.mlaKVWidth
            h.routedExpertParamsB = Double(c.routedExpertParameters) / 1e9
            h.experts = c.experts
            h.expertsPerToken = c.expertsPerToken
            gg = h
        }
        let cat = gg == nil ? base.flatMap { catalog.models[$0] }.map(ModelSpec.init(catalog:)) : gg
        if let base, cat == nil, !m.has("params_b") {
            throw m.error(
                "'\(base)' is not in the model catalogue\(ConfigReader.didYouMean(base, in: Array(catalog.models.keys))) (\(catalog.models.keys.sorted().joined(separator: ", "))); give hf_config: PATH, gguf: PATH, or params_b, layers, attention_heads, kv_heads, head_dim, hidden",
                key: "name")
        }
        func dims(_ k: String, _ d: Int?) throws -> Int { try m.int(k, default: d, min: 1) }
        var spec = ModelSpec(
            name: base ?? key,
            paramsB: try m.double("params_b", default: cat?.paramsB, min: 0, exclusiveMin: true),
            layers: try dims("layers", cat?.layers), attentionHeads: try dims("attention_heads", cat?.attentionHeads),
            kvHeads: try dims("kv_heads", cat?.kvHeads), headDim: try dims("head_dim", cat?.headDim),
            hidden: try dims("hidden", cat?.hidden),
            weightBytes: try m.double("weight_bytes", default: gg?.weightBytes ?? 2, min: 0, exclusiveMin: true),
            kvBytes: try m.double("kv_bytes", default: 2, min: 0, exclusiveMin: true))
        try readDtypes(m, into: &spec)
        // A mixture of experts' shape comes with its source (a config, a GGUF, or the catalogue's config).
        let source = gg ?? cat
        spec.activeParamsB =
            try m.optionalDouble("active_params_b", min: 0, exclusiveMin: true) ?? source?.activeParamsB
        if let source {
            spec.mlaKVWidth = source.mlaKVWidth
            spec.routedExpertParamsB = source.routedExpertParamsB
            spec.experts = source.experts
            spec.expertsPerToken = source.expertsPerToken
        }
        if let a = spec.activeParamsB, a > spec.paramsB * (1 + 1e-12) {
            throw m.error(
                "active_params_b (\(JSONWriter.number(a))) cannot exceed params_b (\(JSONWriter.number(spec.paramsB)))",
                key: "active_params_b")
        }
        return spec
    }

    /// `weight_dtype` and `kv_dtype`: a number format instead of bytes by hand (`Dtype`).
    static func readDtypes(_ m: ConfigReader, into spec: inout ModelSpec) throws {
        for (key, bytesKey, allowed) in [
            ("weight_dtype", "weight_bytes", Dtype.allCases), ("kv_dtype", "kv_bytes", Dtype.kvCases)
        ] {
            guard let raw = try m.optionalString(key, oneOf: allowed.map(\.rawValue)) else { continue }
            if m.has(bytesKey) {
                throw m.error("give \(key) or \(bytesKey), not both (\(key) sets the bytes)", key: bytesKey)
            }
            let d = Dtype(rawValue: raw)!
            if key == "weight_dtype" {
                (spec.weightDtype, spec.weightBytes) = (d, d.bytes)
            } else {
                (spec.kvDtype, spec.kvBytes) = (d, d.bytes)
            }
        }
    }
}
