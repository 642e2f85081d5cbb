import Foundation
/// Public specifications of GPUs and models, so scenarios can name them instead of repeating
/// numbers. Source: `../shared/data/gpus.csv` and `models.csv` (vendor spec sheets, model configs),
/// embedded at build time in `Catalog+Data.swift`.
public struct Catalog: Sendable {
    public struct GPU: Sendable, Equatable {
        public var name: String
        public var memoryGiB: Double
        public var memoryBandwidthGBs: Double
        public var bf16TFLOPS: Double
        public var usdPerHour: Double
    }

    public struct Model: Sendable, Equatable {
        public var name: String
        public var paramsB: Double
        public var layers: Int
        public var attentionHeads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var hidden: Int
    }

    public var gpus: [String: GPU]
    public var models: [String: Model]

    /// The shipped catalogue.
    public static let builtin: Catalog = {
        var gpus: [String: GPU] = [:]
        for row in CSV.parse(gpusCSV).dropFirst() where row.count >= 5 {
            gpus[row[0]] = GPU(name: row[0], memoryGiB: Double(row[1]) ?? 0, memoryBandwidthGBs: Double(row[2]) ?? 0,
                               bf16TFLOPS: Double(row[3]) ?? 0, usdPerHour: Double(row[4]) ?? 0)
        }
        var models: [String: Model] = [:]
        for row in CSV.parse(modelsCSV).dropFirst() where row.count >= 7 {
            models[row[0]] = Model(name: row[0], paramsB: Double(row[1]) ?? 0, layers: Int(row[2]) ?? 0,
                                   attentionHeads: Int(row[3]) ?? 0, kvHeads: Int(row[4]) ?? 0,
                                   headDim: Int(row[5]) ?? 0, hidden: Int(row[6]) ?? 0)
        }
        return Catalog(gpus: gpus, models: models)
    }()
}

/// A minimal RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF).
public enum CSV {
    public static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = text.makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" || c == "\r\n" {
                row.append(field); field = ""
                rows.append(row); row = []
            } else if c != "\r" {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    /// Quotes a field when it needs quoting.
    public static func escape(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }
}
