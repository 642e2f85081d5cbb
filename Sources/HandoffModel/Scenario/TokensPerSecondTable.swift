import Foundation
import HandoffSupport

/// Tokens per second measured by phase and context length, e.g. SplitReason's
/// `splitreason_latency_data.csv` (columns `Model, Params (B), Phase, Sequence Length, Tok/sec`).
/// Lookups interpolate linearly in context length and clamp outside the measured range.
public struct TokensPerSecondTable: Sendable, Equatable {
    public var source: String
    public var model: String
    public var prefill: [(context: Double, tps: Double)]
    public var decode: [(context: Double, tps: Double)]

    public static func == (a: Self, b: Self) -> Bool {
        a.source == b.source && a.model == b.model && a.prefill.elementsEqual(b.prefill, by: { $0 == $1 })
            && a.decode.elementsEqual(b.decode, by: { $0 == $1 })
    }

    /// Reads the rows of `model` from a CSV with columns Model, …, Phase, Sequence Length, Tok/sec.
    public static func load(csvPath: String, model: String) throws -> TokensPerSecondTable {
        let text = String(decoding: try FileIO.read(csvPath), as: UTF8.self)
        let rows = CSV.parse(text)
        guard let header = rows.first else { throw HandoffError.input("empty CSV", file: csvPath) }
        func col(_ names: [String]) throws -> Int {
            guard
                let i = header.firstIndex(where: { h in
                    names.contains(h.trimmingCharacters(in: .whitespaces).lowercased())
                })
            else {
                throw HandoffError.input(
                    "no column named \(names[0]); the header is \(header.joined(separator: ","))", file: csvPath,
                    line: 1)
            }
            return i
        }
        let m = try col(["model"])
        let ph = try col(["phase"])
        let sl = try col(["sequence length", "context_tokens"])
        let tp = try col(["tok/sec", "tokens_per_s"])
        var t = TokensPerSecondTable(source: csvPath, model: model, prefill: [], decode: [])
        var models = Set<String>()
        for (k, row) in rows.enumerated().dropFirst() where row.count > max(m, ph, sl, tp) {
            models.insert(row[m])
            guard row[m] == model else { continue }
            guard let ctx = Double(row[sl]), let tps = Double(row[tp]), tps > 0 else {
                throw HandoffError.input(
                    "expected numbers in 'Sequence Length' and 'Tok/sec' (> 0)", file: csvPath, line: k + 1)
            }
            switch row[ph].lowercased() {
            case "prefill": t.prefill.append((ctx, tps))
            case "decode": t.decode.append((ctx, tps))
            default:
                throw HandoffError.input("phase '\(row[ph])' is neither Prefill nor Decode", file: csvPath, line: k + 1)
            }
        }
        guard !t.prefill.isEmpty, !t.decode.isEmpty else {
            throw HandoffError.input(
                "no Prefill and Decode rows for model '\(model)'; models in the file: \(models.sorted().joined(separator: ", "))",
                file: csvPath)
        }
        t.prefill.sort { $0.context < $1.context }
        t.decode.sort { $0.context < $1.context }
        return t
    }

    static func interpolate(_ pts: [(context: Double, tps: Double)], _ x: Double) -> Double {
        if x <= pts[0].context { return pts[0].tps }
        if x >= pts[pts.count - 1].context { return pts[pts.count - 1].tps }
        var i = 1
        while pts[i].context < x { i += 1 }
        let (x0, y0) = pts[i - 1]
        let (x1, y1) = pts[i]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    }

    public func prefillTPS(context: Double) -> Double { Self.interpolate(prefill, context) }
    public func decodeTPS(context: Double) -> Double { Self.interpolate(decode, context) }
}
