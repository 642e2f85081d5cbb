import Foundation
import HandoffSupport

/// Public production request traces → a Handoff trace (`handoff trace import-requests`).
///
/// Formats (what each file gives: arrival time, prompt and output lengths):
/// - `azure`: Azure LLM inference traces 2023/2024 (Patel et al., Splitwise, ISCA 2024), CSV
///   `TIMESTAMP,ContextTokens,GeneratedTokens`, wall-clock timestamps `YYYY-MM-DD hh:mm:ss.fffffff`;
/// - `burstgpt`: BurstGPT CSV (`Timestamp` s, `Model`, `Request tokens`, `Response tokens`,
///   `Total tokens`, `Log Type`);
/// - `mooncake`: Mooncake's JSONL (FAST 2025): `timestamp` ms, `input_length`, `output_length`,
///   `hash_ids` (one id per 512-token prompt block; equal ids are shared prefix blocks).
///
/// Arrivals are rebased to the first imported request (`arrival_s` 0). A request with no output
/// tokens (a failed or cancelled call in BurstGPT's logs) has nothing to simulate and is skipped;
/// the count is reported.
public enum RequestImport {
    public enum Format: String, CaseIterable, Sendable { case azure, burstgpt, mooncake }

    public struct Row: Sendable, Equatable {
        public var line: Int
        public var arrivalS: Double
        public var promptTokens: Int
        public var outputTokens: Int
        public var prefixBlocks: [Int]?

        package init(line: Int, arrivalS: Double, promptTokens: Int, outputTokens: Int, prefixBlocks: [Int]? = nil) {
            self.line = line
            self.arrivalS = arrivalS
            self.promptTokens = promptTokens
            self.outputTokens = outputTokens
            self.prefixBlocks = prefixBlocks
        }
    }

    public struct Parsed: Sendable {
        public var rows: [Row]
        /// Rows left out for having no output tokens.
        public var skippedEmpty: Int
    }

    public static func parse(path: String, format: Format) throws -> Parsed {
        // Lines end in LF or CRLF (the Azure files use CRLF; "\r\n" is one Character in Swift).
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        let all =
            format == .mooncake ? try mooncakeRows(text, path: path) : try csvRows(text, path: path, format: format)
        var rows = all.filter { $0.outputTokens > 0 }
        guard !rows.isEmpty else { throw HandoffError.input("no request with output tokens in the file", file: path) }
        // Rebase to the first arrival; a file out of time order is sorted (stable: file order on ties).
        let t0 = rows.map(\.arrivalS).min()!
        for i in rows.indices { rows[i].arrivalS -= t0 }
        if zip(rows, rows.dropFirst()).contains(where: { $0.arrivalS > $1.arrivalS }) {
            rows = rows.enumerated().sorted { ($0.element.arrivalS, $0.offset) < ($1.element.arrivalS, $1.offset) }.map(
                \.element)
        }
        return Parsed(rows: rows, skippedEmpty: all.count - rows.count)
    }

    /// Mooncake's JSON Lines: `timestamp` (ms), `input_length`, `output_length`, `hash_ids`.
    static func mooncakeRows(_ text: String, path: String) throws -> [Row] {
        var rows: [Row] = []
        for (k, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNo = k + 1
            if line.allSatisfy({ $0 == " " || $0 == "\r" }) { continue }
            let v: JSONValue
            do { v = try JSONParser.parse(String(line)) } catch {
                let csv = line.contains(",") && !line.hasPrefix("{")
                let hint =
                    !csv
                    ? ""
                    : line.contains("TIMESTAMP")
                        ? "; the file looks like an Azure CSV: try --format azure"
                        : "; the file looks like a CSV: try --format azure or burstgpt"
                throw HandoffError.input("not JSON: \(error.message)\(hint)", file: path, line: lineNo)
            }
            func num(_ k: String) throws -> Double {
                guard case .number(let x)? = v[k], x >= 0 else {
                    throw HandoffError.input("expected a non-negative number", file: path, line: lineNo, field: k)
                }
                return x
            }
            var blocks: [Int]?
            switch v["hash_ids"] {
            case .numbers(let xs)?: blocks = xs.map { Int($0) }
            case .array(let xs)? where xs.isEmpty: blocks = []
            case nil: blocks = nil
            default:
                throw HandoffError.input("expected a list of integers", file: path, line: lineNo, field: "hash_ids")
            }
            rows.append(
                Row(
                    line: lineNo, arrivalS: try num("timestamp") / 1000, promptTokens: Int(try num("input_length")),
                    outputTokens: Int(try num("output_length")), prefixBlocks: blocks))
        }
        return rows
    }

    /// Azure's and BurstGPT's CSV: a header line naming the columns, then one request per line.
    static func csvRows(_ text: String, path: String, format: Format) throws -> [Row] {
        var header: [String]?
        var day0: Int?
        var cols: (time: Int, prompt: Int, output: Int) = (0, 0, 0)
        var rows: [Row] = []
        for (k, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNo = k + 1
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
            }
            if fields.count == 1 && fields[0].isEmpty { continue }
            guard let h = header else {
                header = fields
                cols = try csvColumns(fields, format: format, path: path, line: lineNo)
                continue
            }
            guard fields.count == h.count else {
                throw HandoffError.input(
                    "expected \(h.count) comma-separated fields, found \(fields.count)", file: path, line: lineNo)
            }
            func int(_ i: Int) throws -> Int {
                guard let x = Int(fields[i]), x >= 0 else {
                    throw HandoffError.input(
                        "expected a non-negative integer, got '\(fields[i])'", file: path, line: lineNo, field: h[i])
                }
                return x
            }
            let time = fields[cols.time]
            let t: Double
            if format == .azure {
                guard let (days, s) = wallClock(time) else {
                    throw HandoffError.input(
                        "expected a time 'YYYY-MM-DD hh:mm:ss[.fraction]', got '\(time)'", file: path, line: lineNo,
                        field: h[cols.time])
                }
                // Days from the first row's, so the seconds keep their sub-microsecond digits.
                if day0 == nil { day0 = days }
                t = Double(days - day0!) * 86_400 + s
            } else {
                guard let s = Double(time), s.isFinite, s >= 0 else {
                    throw HandoffError.input(
                        "expected seconds, got '\(time)'", file: path, line: lineNo, field: h[cols.time])
                }
                t = s
            }
            rows.append(
                Row(
                    line: lineNo, arrivalS: t, promptTokens: try int(cols.prompt), outputTokens: try int(cols.output),
                    prefixBlocks: nil))
        }
        if header == nil {
            throw HandoffError.input(
                "the file is empty; a \(format.rawValue) trace starts with a header line", file: path)
        }
        return rows
    }

    /// The time, prompt and output columns a CSV header names; an error that names the format the
    /// file looks like, when it looks like another one.
    static func csvColumns(
        _ fields: [String], format: Format, path: String, line: Int
    ) throws -> (time: Int, prompt: Int, output: Int) {
        let names =
            format == .azure
            ? ("TIMESTAMP", "ContextTokens", "GeneratedTokens") : ("Timestamp", "Request tokens", "Response tokens")
        func col(_ n: String) throws -> Int {
            guard let i = fields.firstIndex(of: n) else {
                let first = fields.first?.trimmingCharacters(in: .whitespaces) ?? ""
                let hint =
                    first.hasPrefix("{")
                    ? "; the file looks like JSON Lines: try --format mooncake"
                    : fields.contains("TIMESTAMP") && format != .azure
                        ? "; it looks like an Azure trace: try --format azure"
                        : fields.contains("Request tokens") && format != .burstgpt
                            ? "; it looks like a BurstGPT trace: try --format burstgpt" : ""
                throw HandoffError.input(
                    "the header has no '\(n)' column (a trace in \(format.rawValue) format has \(names.0), \(names.1), \(names.2))\(hint)",
                    file: path, line: line)
            }
            return i
        }
        return (try col(names.0), try col(names.1), try col(names.2))
    }

    /// A `YYYY-MM-DD hh:mm:ss[.fraction]` wall-clock time as (days since 0000-03-01, seconds of
    /// the day), by the days-from-civil algorithm (H. Hinnant, "chrono-Compatible Low-Level Date
    /// Algorithms"); only differences are used.
    static func wallClock(_ s: String) -> (days: Int, seconds: Double)? {
        let parts = s.split(separator: " ")
        guard parts.count == 2 else { return nil }
        let d = parts[0].split(separator: "-").compactMap { Int($0) }
        let t = parts[1].split(separator: ":")
        guard d.count == 3, t.count == 3, let hh = Int(t[0]), let mm = Int(t[1]), let ss = Double(t[2]),
            (1...12).contains(d[1]), (1...31).contains(d[2]), (0..<24).contains(hh), (0..<60).contains(mm), ss >= 0,
            ss < 61
        else { return nil }
        let y = d[1] <= 2 ? d[0] - 1 : d[0]
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (d[1] + 9) % 12
        let doy = (153 * mp + 2) / 5 + d[2] - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return (era * 146_097 + doe, Double(hh * 3600 + mm * 60) + ss)
    }

    /// Which rows to keep: arrivals in [start, start + duration) of the rebased clock, at most
    /// `limit` of them; then time divided by `speed` (k > 1 replays k× faster) and rebased again.
    public static func window(
        _ rows: [Row], start: Double = 0, duration: Double? = nil, limit: Int? = nil, speed: Double = 1
    ) -> [Row] {
        var kept = rows.filter { $0.arrivalS >= start && (duration == nil || $0.arrivalS < start + duration!) }
        if let limit, kept.count > limit { kept = Array(kept.prefix(limit)) }
        guard let t0 = kept.first?.arrivalS else { return [] }
        for i in kept.indices { kept[i].arrivalS = (kept[i].arrivalS - t0) / speed }
        return kept
    }

    /// The trace: each row's lengths and arrival, difficulties sampled from `recorded` by length
    /// class; or, only when asked (`spec`), synthetic (the burst process of `SyntheticTraceSpec` at
    /// the row's output length, with its hardness and outcome labels, marked `synthetic`); or else
    /// none (difficulties 0, no labels, marked `none`): a request log says nothing about them.
    ///
    /// Sampling: classes are ⌊log₂ output tokens⌋; a row draws a recorded request uniformly from
    /// its class, or from the nearest non-empty class (the shorter on a tie), and takes its
    /// difficulties cycled or cut to the row's length, and its outcome labels.
    public static func trace(
        _ rows: [Row], idPrefix: String, synthetic spec: SyntheticTraceSpec?, recorded: Trace? = nil
    ) -> Trace {
        let rng = RandomStream(seed: spec?.seed ?? 0, name: "trace.import")
        var trace = TraceBuilder()
        var values: [Float] = []  // one request's difficulties, the buffer reused
        var classes: [Int: [Int]] = [:]
        if let recorded {
            for r in 0..<recorded.count where recorded.outputTokens(r) > 0 {
                classes[Int.bitWidth - 1 - recorded.outputTokens(r).leadingZeroBitCount, default: []].append(r)
            }
        }
        let keys = classes.keys.sorted()
        for (k, row) in rows.enumerated() {
            values.removeAll(keepingCapacity: true)
            var q = TraceRequest(id: "\(idPrefix)-\(k)", promptTokens: row.promptTokens, arrivalS: row.arrivalS)
            q.prefixBlocks = row.prefixBlocks
            if let recorded, !keys.isEmpty {
                let c = Int.bitWidth - 1 - row.outputTokens.leadingZeroBitCount
                let nearest = keys.min { (abs($0 - c), $0) < (abs($1 - c), $1) }!
                let pool = classes[nearest]!
                let src = pool[rng.int(below: pool.count)]
                let range = recorded.tokenRange(src)
                for t in 0..<row.outputTokens { values.append(recorded.difficulty[range.lowerBound + t % range.count]) }
                q.smallCorrect = recorded.requests[src].smallCorrect
                q.largeCorrect = recorded.requests[src].largeCorrect
            } else if let spec {
                let h = spec.appendDifficulty(tokens: row.outputTokens, rng: rng, into: &values)
                let (s, l) = spec.labels(hardness: h, rng: rng)
                q.smallCorrect = s
                q.largeCorrect = l
                q.profile = .synthetic
            } else {
                values.append(contentsOf: repeatElement(0, count: row.outputTokens))
                q.profile = .none
            }
            trace.append(q, difficulty: values)
        }
        return trace.build()
    }
}
