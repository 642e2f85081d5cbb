import Foundation
import HandoffSupport

/// A model's shape from its Hugging Face `config.json`: `models.<key>.hf_config: PATH`.
///
/// Families (`model_type`): llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3 / gemma3_text,
/// phi3 (dense); mixtral, qwen3_moe, deepseek_v3 (mixture of experts). Parameters are counted
/// from the architecture, matrix by matrix, as the `transformers` modelling code builds them
/// (H hidden, I intermediate, V vocabulary, n_h heads, n_kv KV heads, d head dim):
///
/// - embedding V·H, and an output matrix V·H unless `tie_word_embeddings`;
/// - attention q, o: H·n_h·d each; k, v: H·n_kv·d each; qwen2's q/k/v biases; the q/k norms
///   (d each) of qwen3, qwen3_moe and gemma3;
/// - deepseek_v3's multi-head latent attention: q_a H·r_q, its norm r_q, q_b r_q·n_h·(d_nope + d_rope)
///   (or q H·n_h·(d_nope + d_rope) without `q_lora_rank`), kv_a H·(r_kv + d_rope), its norm r_kv,
///   kv_b r_kv·n_h·(d_nope + d_v), o n_h·d_v·H;
/// - a gated MLP 3·H·I (phi3's fused gate_up included); an MoE layer E experts of 3·H·I_e, a
///   router H·E (deepseek_v3 adds its E score-correction biases), shared experts 3·H·I_e each;
/// - norms: 2·H per layer (4·H in gemma2 and gemma3), H at the end.
///
/// Checked on four real models against their GGUF files' tensor counts (Tests/HandoffTests/
/// HFConfigTests.swift): Qwen2.5-Coder-0.5B/1.5B, Gemma-3-270M and SmolLM2-135M to the parameter.
///
/// What the simulator gets:
/// - `params_b`: every stored parameter (the weights' memory at `weight_bytes` each);
/// - `active_params_b`: what one token's FLOPs run through: the experts it is routed to (k of E,
///   plus the shared ones), not the embedding lookup; the output matrix counts, tied or not;
/// - KV per token: K and V of n_kv·d per layer, or MLA's compressed r_kv + d_rope per layer
///   (one latent, no separate V: `mla_kv_width`);
/// - the attention FLOPs' head dim: d, or for MLA (d_nope + d_rope + d_v)/2, so 4·n_h·head_dim
///   is the QKᵀ and AV work per context token of the uncompressed form.
///
/// deepseek_v3's multi-token-prediction module (`num_nextn_predict_layers`) is not counted: it
/// serves speculative decoding, not the model's own tokens. Published sizes count the input
/// embedding as active; this count does not (a lookup): DeepSeek-V3 671.0 B stored, 36.6 B active
/// (37.6 B with the lookup; DeepSeek reports 671 B and 37 B); Mixtral-8x7B 46.7 B and 12.7 B (12.9);
/// Qwen3-30B-A3B 30.5 B and 3.04 B (3.35; Qwen reports 30.5 B and 3.3 B).
public enum HFConfig {
    public static let families = [
        "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "phi3",
        "mixtral", "qwen3_moe", "deepseek_v3"
    ]

    /// Stored and per-token parameters, and the KV shape.
    public struct Shape: Sendable, Equatable {
        public var modelType: String
        public var layers, hidden, heads, kvHeads, headDim: Int
        public var parameters: Int
        public var activeParameters: Int
        /// MLA: KV elements per layer and token (0: K and V of kv_heads · head_dim each).
        public var mlaKVWidth = 0
        /// Routed experts: their stored parameters over all MoE layers, E and k (0 for a dense model).
        public var routedExpertParameters = 0
        public var experts = 0
        public var expertsPerToken = 0
    }

    public static func read(path: String) throws -> Shape {
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch {
            throw HandoffError.input("not JSON: \(error.message) at byte \(error.offset)", file: path)
        }
        return try shape(json, path: path)
    }

    public static func shape(_ root: JSONValue, path: String) throws -> Shape {
        let c = try ConfigFields(root, path: path)
        let type = c.type
        let H = try c.int("hidden_size")
        let L = try c.int("num_hidden_layers")
        let nh = try c.int("num_attention_heads")
        let V = try c.int("vocab_size")
        guard H > 0, L > 0, nh > 0, V > 0 else {
            throw HandoffError.input(
                "hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be ≥ 1", file: path)
        }
        let nkv = try c.int("num_key_value_heads", nh)
        let tied = c.bool("tie_word_embeddings", type.hasPrefix("gemma"))
        let normsPerLayer = (type == "gemma2" || type == "gemma3_text" ? 4 : 2) * H
        let (attention, mla, d) = try attentionPerLayer(c, hidden: H, heads: nh, kvHeads: nkv)
        // MLP per layer: dense, or experts (stored, active).
        let I = try c.int("intermediate_size", type == "deepseek_v3" || type == "qwen3_moe" ? 0 : nil)
        let dense = 3 * H * I
        let moe = try experts(c, layers: L, hidden: H, dense: dense)
        let perLayer = attention + normsPerLayer
        let routed = moe.layers * moe.routed * moe.expert
        var stored =
            L * perLayer + (L - moe.layers) * dense + routed + moe.layers * (moe.shared * moe.expert + moe.router)
        var active =
            L * perLayer + (L - moe.layers) * dense
            + moe.layers * ((moe.perToken + moe.shared) * moe.expert + moe.router)
        let embedding = V * H
        stored += embedding + (tied ? 0 : embedding) + H
        active += embedding + H  // the output matmul (tied or not); the input lookup costs no FLOPs
        return Shape(
            modelType: type, layers: L, hidden: H, heads: nh, kvHeads: type == "deepseek_v3" ? 1 : nkv, headDim: d,
            parameters: stored, activeParameters: active, mlaKVWidth: mla, routedExpertParameters: routed,
            experts: moe.routed, expertsPerToken: moe.perToken)
    }

    /// Attention parameters per layer, MLA's KV width (0 without latent attention) and the head
    /// dimension (DeepSeek's: the mean of its query-key and value widths).
    static func attentionPerLayer(
        _ c: ConfigFields, hidden H: Int, heads nh: Int, kvHeads nkv: Int
    ) throws -> (parameters: Int, mlaKVWidth: Int, headDim: Int) {
        if c.type == "deepseek_v3" {
            let rkv = try c.int("kv_lora_rank")
            let rope = try c.int("qk_rope_head_dim")
            let nope = try c.int("qk_nope_head_dim")
            let dv = try c.int("v_head_dim")
            let rq = try c.int("q_lora_rank", 0)
            let q = rq > 0 ? H * rq + rq + rq * nh * (nope + rope) : H * nh * (nope + rope)
            return (
                q + H * (rkv + rope) + rkv + rkv * nh * (nope + dv) + nh * dv * H, rkv + rope, (nope + rope + dv) / 2
            )
        }
        let d = try c.int("head_dim", H / nh)
        var attention = 2 * H * nh * d + 2 * H * nkv * d
        if c.type == "qwen2" || c.bool("attention_bias", false) { attention += nh * d + 2 * nkv * d }
        if ["qwen3", "qwen3_moe", "gemma3_text"].contains(c.type) { attention += 2 * d }  // q and k norms
        return (attention, 0, d)
    }

    /// The mixture-of-experts layers: how many, E routed experts of `expert` parameters, k per
    /// token, `shared` always on, and the router's (and its bias's) parameters. All 0 for a dense model.
    static func experts(
        _ c: ConfigFields, layers L: Int, hidden H: Int, dense: Int
    ) throws -> (layers: Int, routed: Int, perToken: Int, expert: Int, shared: Int, router: Int) {
        var moeLayer: (Int) -> Bool = { _ in false }
        switch c.type {
        case "mixtral": moeLayer = { _ in true }
        case "qwen3_moe":
            let step = try c.int("decoder_sparse_step", 1)
            var denseLayers = Set<Int>()
            if case .numbers(let xs)? = c.fields["mlp_only_layers"] { denseLayers = Set(xs.map { Int($0) }) }
            moeLayer = { l in !denseLayers.contains(l) && step > 0 && (l + 1) % step == 0 }
        case "deepseek_v3":
            let firstDense = try c.int("first_k_dense_replace", 0)
            let freq = try c.int("moe_layer_freq", 1)
            moeLayer = { l in l >= firstDense && freq > 0 && l % freq == 0 }
        default: break
        }
        let n = (0..<L).filter(moeLayer).count
        guard n > 0 else { return (0, 0, 0, 0, 0, 0) }
        switch c.type {
        case "mixtral":
            let nE = try c.int("num_local_experts")
            return (n, nE, try c.int("num_experts_per_tok"), dense, 0, H * nE)
        case "qwen3_moe":
            let nE = try c.int("num_experts")
            return (n, nE, try c.int("num_experts_per_tok"), 3 * H * (try c.int("moe_intermediate_size")), 0, H * nE)
        default:  // deepseek_v3
            let nE = try c.int("n_routed_experts")
            let k = try c.int("num_experts_per_tok")
            let shared = try c.int("n_shared_experts", 0)
            return (n, nE, k, 3 * H * (try c.int("moe_intermediate_size")), shared, H * nE + nE)
        }
    }

    /// A config's fields as its family reads them: Gemma 3's multimodal configs keep the language
    /// model under `text_config`. Errors name the file and the field.
    struct ConfigFields {
        let fields: JSONValue
        let type: String
        let path: String

        init(_ root: JSONValue, path: String) throws {
            guard case .string(let type0)? = root["model_type"] else {
                throw HandoffError.input("no 'model_type' in the config", file: path, field: "model_type")
            }
            if type0 == "gemma3", let t = root["text_config"], case .object = t {
                (fields, type) = (t, "gemma3_text")
            } else {
                (fields, type) = (root, type0)
            }
            self.path = path
            guard families.contains(type) else {
                throw HandoffError.input(
                    "model_type '\(type)' is not a family Handoff reads (\(families.joined(separator: ", "))); give the shape by hand",
                    file: path, field: "model_type")
            }
        }

        func int(_ k: String, _ d: Int? = nil) throws -> Int {
            switch fields[k] {
            case .number(let x)? where x >= 0 && x == x.rounded() && x < 1e15: return Int(x)
            case nil, .null?:
                if let d { return d }
                throw HandoffError.input("the config has no '\(k)', which a \(type) model needs", file: path, field: k)
            default: throw HandoffError.input("'\(k)' must be a non-negative integer", file: path, field: k)
            }
        }

        func bool(_ k: String, _ d: Bool) -> Bool {
            if case .bool(let b)? = fields[k] { return b }
            return d
        }
    }
}
