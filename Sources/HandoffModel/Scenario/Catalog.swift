import Foundation
import HandoffSupport

/// Public specifications of GPUs and models, so scenarios can name them instead of repeating
/// numbers: `Scenarios/catalog/gpus.csv` (vendor spec sheets and indicative prices, each row with
/// its sources) and `models.csv` (a shape, or a Hugging Face config in `Scenarios/models/` whose
/// counts `HFConfig` derives), embedded in `Catalog+Data.swift` by `scripts/embed-catalog`.
public struct Catalog: Sendable {
    public struct GPU: Sendable, Equatable {
        public var name: String
        public var memoryGiB: Double
        public var memoryBandwidthGBs: Double
        public var bf16TFLOPS: Double
        /// Dense FP8 TFLOPS and INT8 TOPS; nil where the GPU has none (or no public figure).
        public var fp8TFLOPS: Double? = nil
        public var int8TOPS: Double? = nil
        /// One-way bandwidth of the GPU's link to its tensor-parallel peers, GB/s (NVLink, or PCIe).
        public var interconnectGBs: Double = 0
        /// NaN when no public list price is known: a scenario on it must set its price.
        public var usdPerHour: Double
        public var source = ""
    }

    public struct Model: Sendable, Equatable {
        public var name: String
        public var paramsB: Double
        public var layers: Int
        public var attentionHeads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var hidden: Int
        /// A mixture of experts (from its config): per-token parameters, routed experts.
        public var activeParamsB: Double? = nil
        public var mlaKVWidth = 0
        public var routedExpertParamsB = 0.0
        public var experts = 0
        public var expertsPerToken = 0
        public var source = ""
    }

    public var gpus: [String: GPU]
    public var models: [String: Model]

    /// The shipped catalogue.
    public static let builtin: Catalog = {
        var gpus: [String: GPU] = [:]
        for row in CSV.parse(gpusCSV).dropFirst() where row.count >= 8 {
            gpus[row[0]] = GPU(
                name: row[0], memoryGiB: Double(row[1]) ?? 0, memoryBandwidthGBs: Double(row[2]) ?? 0,
                bf16TFLOPS: Double(row[3]) ?? 0, fp8TFLOPS: Double(row[4]), int8TOPS: Double(row[5]),
                interconnectGBs: Double(row[6]) ?? 0, usdPerHour: Double(row[7]) ?? .nan,
                source: row.count > 8 ? row[8] : "")
        }
        var models: [String: Model] = [:]
        for row in CSV.parse(modelsCSV).dropFirst() where row.count >= 10 {
            let source = row[9]
            if !row[8].isEmpty {
                // Shipped configs parse (a test reads every one); a broken one would stop every load.
                guard let text = modelConfigs[row[8]], let json = try? JSONParser.parse(text),
                    let c = try? HFConfig.shape(json, path: "Scenarios/models/" + row[8])
                else {
                    preconditionFailure(
                        "catalogue model \(row[0]): config \(row[8]) is not embedded or does not parse; run scripts/embed-catalog"
                    )
                }
                models[row[0]] = Model(
                    name: row[0], paramsB: Double(c.parameters) / 1e9, layers: c.layers, attentionHeads: c.heads,
                    kvHeads: c.kvHeads, headDim: c.headDim, hidden: c.hidden,
                    activeParamsB: c.activeParameters == c.parameters ? nil : Double(c.activeParameters) / 1e9,
                    mlaKVWidth: c.mlaKVWidth, routedExpertParamsB: Double(c.routedExpertParameters) / 1e9,
                    experts: c.experts, expertsPerToken: c.expertsPerToken, source: source)
            } else {
                models[row[0]] = Model(
                    name: row[0], paramsB: Double(row[1]) ?? 0, layers: Int(row[2]) ?? 0,
                    attentionHeads: Int(row[3]) ?? 0, kvHeads: Int(row[4]) ?? 0,
                    headDim: Int(row[5]) ?? 0, hidden: Int(row[6]) ?? 0, source: source)
            }
        }
        return Catalog(gpus: gpus, models: models)
    }()
}
