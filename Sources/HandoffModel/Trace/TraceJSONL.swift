import Foundation
import HandoffSupport

/// The JSON Lines trace format: one request per line.
///
/// | field | type | meaning |
/// |---|---|---|
/// | `id` | string or integer | request id (default: the line number) |
/// | `prompt_tokens` | integer ≥ 0 | tokens of the prompt (required) |
/// | `difficulty` | array of numbers in [0, 1] | one per generated token, 1 = hardest |
/// | `hard_spans` | array of `[start, end)` token index pairs | instead of `difficulty`: tokens inside a span get difficulty 1, others 0 (needs `output_tokens`) |
/// | `output_tokens` | integer ≥ 0 | number of generated tokens (checked against `difficulty` when both are given) |
/// | `steps` | increasing integers in (0, output_tokens] | reasoning-step boundaries: a step ends just before each position |
/// | `step_scores` | one array of K numbers per step | SPECS score of each of K draft candidates of the step (K the same on every line) |
/// | `step_rewards` | one array of K numbers per step | process reward of each of K target-generated candidates of the step |
/// | `arrival_s` | number ≥ 0 | recorded arrival time, for replayed traffic |
/// | `small_correct`, `large_correct` | boolean | outcome labels |
/// | `large_output_tokens` | integer ≥ 0 | tokens the large model alone generated for the prompt (`record --label-server`) |
/// | `held_out` | boolean | the prompt is kept out of every fit (closed-loop models) |
/// | `prefix_blocks` | integers ≥ 0 | ids of the prompt's blocks of `trace.prefix_block_tokens` tokens, equal ids = equal prefixes (Mooncake `hash_ids`), for caching across requests |
/// | `prompt`, `answer` | string | prompt text and reference answer |
/// | `measured` | object | what a real engine run measured (`record`, `validate`), kept verbatim |
/// | `difficulty_source` | `synthetic` or `none` | the difficulty and labels were invented by the generator, or are absent (an imported request log); without it, recorded |
///
/// Blank lines are skipped. Any other field is an error, so a misspelt field cannot be ignored.
public enum TraceJSONL {
    public static let fields = [
        "id", "prompt_tokens", "difficulty", "hard_spans", "output_tokens", "steps",
        "step_scores", "step_rewards", "arrival_s", "small_correct", "large_correct", "large_output_tokens", "held_out",
        "prefix_blocks", "prompt", "answer", "measured", "difficulty_source"
    ]

    /// Reads a JSONL trace. O(bytes). Errors name the file, line and field.
    public static func read(path: String) throws -> Trace {
        try read(path: path, indexOnly: false).trace
    }

    /// Reads a JSONL file; with `indexOnly` the difficulties are not kept (the columnar index),
    /// and the returned trace has an empty column while `offsets` still count the tokens.
    static func read(path: String, indexOnly: Bool) throws -> (trace: Trace, offsets: [Int]) {
        let data = try FileIO.read(path)
        return try data.withUnsafeBytes { raw in
            try parse(
                UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count),
                file: path, indexOnly: indexOnly)
        }
    }

    public static func parse(_ text: String, file: String) throws -> Trace {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { try parse($0, file: file, indexOnly: false).trace }
    }

    static func parse(
        _ p: UnsafeBufferPointer<UInt8>, file: String, indexOnly: Bool
    ) throws -> (trace: Trace, offsets: [Int]) {
        var requests: [TraceRequest] = []
        var offsets = [0]
        var values: [Float] = []
        var steps: [Int32] = []
        var stepOffsets = [0]
        var cands = Candidates()
        var lineNo = 0
        var start = 0
        while start < p.count {
            var end = start
            while end < p.count, p[end] != 0x0A { end += 1 }
            lineNo += 1
            let line = UnsafeBufferPointer(rebasing: p[start..<end])
            start = end + 1
            guard line.count <= Limits.lineBytes else {
                throw HandoffError.input(
                    "the line has \(line.count) bytes; at most \(Limits.lineBytes) (docs/limits.md: HANDOFF_MAX_LINE_BYTES raises it)",
                    file: file, line: lineNo)
            }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JSONValue
            do { value = try JSONParser.parse(line) } catch {
                throw HandoffError.input(
                    "invalid JSON: \(error.message)", file: file, line: lineNo, column: error.offset + 1)
            }
            let before = values.count
            let stepsBefore = steps.count
            let n = try decodeLine(
                value, file: file, line: lineNo, requests: &requests, values: &values, steps: &steps,
                indexOnly: indexOnly)
            guard offsets.last! + n <= (indexOnly ? Int.max / 2 : Limits.traceTokens) else {
                throw HandoffError.input(
                    "the trace has more than \(Limits.traceTokens) tokens, the most a JSONL trace may hold in memory; convert it to the columnar form (handoff trace convert), or raise HANDOFF_MAX_TRACE_TOKENS (docs/limits.md)",
                    file: file, line: lineNo)
            }
            if !indexOnly {
                try cands.read(value, steps: steps.count - stepsBefore, file: file, line: lineNo)
            } else if let key = ["step_scores", "step_rewards"].first(where: { value[$0] != nil }) {
                throw HandoffError.input(
                    "a columnar trace keeps \(key) in \(key).npy (steps × K, <f4), not in index.jsonl", file: file,
                    line: lineNo, field: key)
            }
            assert(indexOnly || values.count - before == n)
            offsets.append(offsets.last! + n)
            stepOffsets.append(steps.count)
        }
        if requests.isEmpty {
            throw HandoffError.input("the trace has no requests (expected one JSON object per line)", file: file)
        }
        if indexOnly {
            let empty = Trace(
                requests: requests, offsets: [Int](repeating: 0, count: requests.count + 1),
                difficulty: DifficultyColumn([]))
            return (empty, offsets)
        }
        return (
            Trace(
                requests: requests, offsets: offsets, difficulty: DifficultyColumn(values), steps: steps,
                stepOffsets: stepOffsets,
                candidates: cands.width, stepScores: cands.scores, stepRewards: cands.rewards), offsets
        )
    }

    /// Accumulates `step_scores` / `step_rewards` across lines: K (the row length) is fixed by the
    /// first line that has them, and once a trace has them every line with steps must.
    struct Candidates {
        var width = 0
        var scores: [Float] = []
        var rewards: [Float] = []
        var stepsSeen = 0
        var firstLine = 0

        mutating func read(_ v: JSONValue, steps n: Int, file: String, line: Int) throws {
            func fail(_ field: String, _ msg: String) -> HandoffError {
                .input(msg, file: file, line: line, field: field)
            }
            for key in ["step_scores", "step_rewards"] {
                let have = key == "step_scores" ? scores.count : rewards.count
                guard let x = v[key] else {
                    if have > 0, n > 0 {
                        throw fail(
                            key, "missing: line \(firstLine) records \(key), so every request with steps needs it")
                    }
                    continue
                }
                let rows: [JSONValue]
                switch x {
                case .array(let a): rows = a
                case .numbers(let a) where a.isEmpty: rows = []
                default: throw fail(key, "expected one array of candidate values per step, got \(x.typeName)")
                }
                guard rows.count == n else {
                    throw fail(key, "has \(rows.count) rows but the request has \(n) steps (one row per step)")
                }
                if have == 0 && stepsSeen > 0 && n > 0 {
                    throw fail(key, "earlier requests with steps have no \(key); give it on every line or none")
                }
                for (j, row) in rows.enumerated() {
                    guard case .numbers(let xs) = row, !xs.isEmpty, xs.allSatisfy(\.isFinite) else {
                        throw fail("\(key)[\(j)]", "expected an array of K finite numbers (one per candidate)")
                    }
                    if width == 0 {
                        width = xs.count
                        firstLine = line
                    }
                    guard xs.count == width else {
                        throw fail(
                            "\(key)[\(j)]",
                            "has \(xs.count) candidates; line \(firstLine) has \(width) (K must be the same for every step)"
                        )
                    }
                    if key == "step_scores" {
                        scores.append(contentsOf: xs.map { Float($0) })
                    } else {
                        rewards.append(contentsOf: xs.map { Float($0) })
                    }
                }
            }
            stepsSeen += n
        }
    }

    /// A numeric `id` as text, when it is an integer that `Int64` holds exactly (|d| < 9e15).
    static func integerID(_ d: Double) -> String? { d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : nil }

    /// Decodes one request, appending its difficulties to `values` (unless `indexOnly`: a columnar
    /// index line, whose difficulties live in difficulty.npy) and its steps to `steps`.
    /// - Returns: the request's output tokens.
    @discardableResult
    static func decodeLine(
        _ v: JSONValue, file: String, line: Int, requests: inout [TraceRequest],
        values: inout [Float], steps: inout [Int32], indexOnly: Bool = false
    ) throws -> Int {
        let f = try LineFields(v, file: file, line: line, known: fields)
        if indexOnly, let key = ["difficulty", "hard_spans", "steps"].first(where: { v[$0] != nil }) {
            throw f.fail(
                key,
                "a columnar index line keeps \(key == "steps" ? "steps in steps.npy" : "difficulties in difficulty.npy"); leave \(key) out of index.jsonl"
            )
        }
        let id = try f.id(default: String(line))
        guard let prompt = try f.int("prompt_tokens") else {
            throw f.fail("prompt_tokens", "missing (the number of prompt tokens, an integer ≥ 0)")
        }
        let declared = try f.int("output_tokens")
        let n: Int
        if indexOnly {
            guard let declared else {
                throw f.fail(
                    "output_tokens", "missing; a columnar index line needs the request's number of generated tokens")
            }
            n = declared
        } else {
            n = try decodeDifficulties(f, declared: declared, into: &values)
        }
        try decodeSteps(f, outputTokens: n, into: &steps)
        requests.append(try decodeRequest(f, id: id, promptTokens: prompt))
        return n
    }

    /// `difficulty` (one value per generated token), or `hard_spans` with `output_tokens` (1 inside
    /// a span, 0 elsewhere), or `output_tokens` alone (all 0), appended to `values`.
    /// - Returns: the request's output tokens.
    static func decodeDifficulties(_ f: LineFields, declared: Int?, into values: inout [Float]) throws -> Int {
        if let d = f.v["difficulty"] {
            if f.v["hard_spans"] != nil { throw f.fail("hard_spans", "give either difficulty or hard_spans, not both") }
            guard case .numbers(let xs) = d else {
                throw f.fail("difficulty", "expected an array of numbers in [0, 1], got \(d.typeName)")
            }
            for (k, x) in xs.enumerated() where !(x >= 0 && x <= 1) {
                throw f.fail("difficulty[\(k)]", "\(JSONWriter.number(x)) is out of range; expected a number in [0, 1]")
            }
            if let declared, declared != xs.count {
                throw f.fail("output_tokens", "is \(declared) but difficulty has \(xs.count) values")
            }
            for x in xs { values.append(Float(x)) }
            return xs.count
        }
        guard let n = declared else {
            throw f.v["hard_spans"] != nil
                ? f.fail("output_tokens", "missing; hard_spans needs the number of generated tokens")
                : f.fail(
                    "difficulty",
                    "missing; give difficulty (one value per generated token) or hard_spans with output_tokens")
        }
        let base = values.count
        values.append(contentsOf: repeatElement(0, count: n))
        if let s = f.v["hard_spans"] {
            for span in try hardSpans(s, f, outputTokens: n) {
                for t in span { values[base + t] = 1 }
            }
        }
        return n
    }

    /// `hard_spans`: [start, end) pairs within the output.
    static func hardSpans(_ s: JSONValue, _ f: LineFields, outputTokens n: Int) throws -> [Range<Int>] {
        let items: [JSONValue]
        switch s {
        case .array(let a): items = a
        case .numbers(let a) where a.isEmpty: items = []
        default: throw f.fail("hard_spans", "expected an array of [start, end) pairs")
        }
        return try items.enumerated().map { k, item in
            guard case .numbers(let pair) = item, pair.count == 2, pair[0] == pair[0].rounded(),
                pair[1] == pair[1].rounded(),
                pair[0] >= 0, pair[0] <= pair[1], pair[1] <= Double(n)
            else {
                throw f.fail("hard_spans[\(k)]", "expected [start, end) with 0 ≤ start ≤ end ≤ output_tokens (\(n))")
            }
            return Int(pair[0])..<Int(pair[1])
        }
    }

    /// `steps`: increasing token positions in (0, output tokens], appended to `steps`.
    static func decodeSteps(_ f: LineFields, outputTokens n: Int, into steps: inout [Int32]) throws {
        guard let s = f.v["steps"] else { return }
        guard case .numbers(let xs) = s else {
            throw f.fail("steps", "expected an array of increasing token positions")
        }
        var prev = 0.0
        for (k, x) in xs.enumerated() {
            guard x == x.rounded(), x > prev, x <= Double(n) else {
                throw f.fail("steps[\(k)]", "\(JSONWriter.number(x)): expected increasing integers in (0, \(n)]")
            }
            steps.append(Int32(x))
            prev = x
        }
    }

    /// The request's own fields: arrival, labels, text, provenance, prefix blocks.
    static func decodeRequest(_ f: LineFields, id: String, promptTokens: Int) throws -> TraceRequest {
        var arrival: Double? = nil
        if let a = f.v["arrival_s"] {
            guard case .number(let x) = a, x >= 0, x < 1e12 else {
                throw f.fail("arrival_s", "expected a finite number of seconds ≥ 0, got \(JSONWriter.write(a))")
            }
            arrival = x
        }
        var q = TraceRequest(
            id: id, promptTokens: promptTokens, arrivalS: arrival,
            smallCorrect: try f.bool("small_correct"), largeCorrect: try f.bool("large_correct"),
            prompt: try f.string("prompt"), answer: try f.string("answer"), measured: f.v["measured"])
        q.largeOutputTokens = try f.int("large_output_tokens")
        q.heldOut = try f.bool("held_out") ?? false
        if let src = try f.string("difficulty_source") {
            guard let d = DifficultySource(rawValue: src), d != .recorded else {
                throw f.fail(
                    "difficulty_source", "expected synthetic or none (leave it out for recorded), got '\(src)'")
            }
            q.profile = d
        }
        if let b = f.v["prefix_blocks"] {
            switch b {
            case .numbers(let xs):
                for (k, x) in xs.enumerated() where !(x >= 0 && x == x.rounded() && x < 9e15) {
                    throw f.fail("prefix_blocks[\(k)]", "\(JSONWriter.number(x)): expected an integer block id ≥ 0")
                }
                q.prefixBlocks = xs.map { Int($0) }
            case .array(let a) where a.isEmpty: q.prefixBlocks = []
            default: throw f.fail("prefix_blocks", "expected an array of integer block ids, got \(b.typeName)")
            }
        }
        return q
    }

    /// Every field of request `r` except `difficulty` and `steps`: the columnar index line.
    static func metadata(_ trace: Trace, _ r: Int) -> [(String, JSONValue)] {
        metadata(trace.requests[r], outputTokens: trace.outputTokens(r))
    }

    static func metadata(_ q: TraceRequest, outputTokens: Int) -> [(String, JSONValue)] {
        var pairs: [(String, JSONValue)] = [("id", .string(q.id)), ("prompt_tokens", .number(Double(q.promptTokens)))]
        if let a = q.arrivalS { pairs.append(("arrival_s", .number(a))) }
        if let s = q.smallCorrect { pairs.append(("small_correct", .bool(s))) }
        if let s = q.largeCorrect { pairs.append(("large_correct", .bool(s))) }
        if let n = q.largeOutputTokens { pairs.append(("large_output_tokens", .number(Double(n)))) }
        if q.heldOut { pairs.append(("held_out", .bool(true))) }
        if q.profile != .recorded { pairs.append(("difficulty_source", .string(q.profile.rawValue))) }
        if let b = q.prefixBlocks { pairs.append(("prefix_blocks", .numbers(b.map(Double.init)))) }
        if let s = q.prompt { pairs.append(("prompt", .string(s))) }
        if let s = q.answer { pairs.append(("answer", .string(s))) }
        if let m = q.measured { pairs.append(("measured", m)) }
        pairs.append(("output_tokens", .number(Double(outputTokens))))
        return pairs
    }

    /// `step_scores` and `step_rewards` of request `r`, when the trace records them.
    static func candidateFields(_ trace: Trace, _ r: Int) -> [(String, JSONValue)] {
        let k = trace.candidates
        let steps = trace.stepOffsets[r]..<trace.stepOffsets[r + 1]
        var pairs: [(String, JSONValue)] = []
        for (key, xs) in [("step_scores", trace.stepScores), ("step_rewards", trace.stepRewards)] where !xs.isEmpty {
            pairs.append((key, .array(steps.map { j in .numbers((0..<k).map { Double(xs[j * k + $0]) }) })))
        }
        return pairs
    }

    /// One line of the JSONL form for request `r`, without the trailing newline.
    public static func line(_ trace: Trace, _ r: Int) -> String {
        var pairs = metadata(trace, r)
        let st = trace.stepBoundaries(r)
        if !st.isEmpty { pairs.append(("steps", .numbers(st.map { Double($0) }))) }
        pairs += candidateFields(trace, r)
        var s = JSONWriter.write(.object(pairs))
        s.removeLast()
        s += ",\"difficulty\":["
        for (k, i) in trace.tokenRange(r).enumerated() {
            if k > 0 { s += "," }
            let d = trace.difficulty[i]
            s += d == 0 ? "0" : d == 1 ? "1" : String(d)
        }
        return s + "]}"
    }

    /// Writes the whole trace as JSONL, atomically.
    public static func write(_ trace: Trace, to path: String) throws {
        var out = ""
        for r in 0..<trace.count {
            out += line(trace, r)
            out += "\n"
        }
        try FileIO.writeAtomically(out, to: path)
    }
}

/// One JSONL line's object under decoding: typed reads of its fields, each error naming the file,
/// the line and the field.
struct LineFields {
    let v: JSONValue
    let file: String
    let line: Int

    /// Checks that `v` is an object whose keys are all in `known`, each given once.
    init(_ v: JSONValue, file: String, line: Int, known: [String]) throws {
        (self.v, self.file, self.line) = (v, file, line)
        guard case .object(let pairs) = v else { throw fail(nil, "expected a JSON object per line, got \(v.typeName)") }
        var seen = Set<String>()
        for (k, _) in pairs {
            guard known.contains(k) else {
                throw fail(k, "unknown field; expected one of \(known.joined(separator: ", "))")
            }
            guard seen.insert(k).inserted else { throw fail(k, "field given twice") }
        }
    }

    func fail(_ field: String?, _ msg: String) -> HandoffError { .input(msg, file: file, line: line, field: field) }

    /// An integer ≥ `min` within the per-request token limit, or nil when absent.
    func int(_ k: String, min: Int = 0) throws -> Int? {
        guard let x = v[k] else { return nil }
        guard case .number(let d) = x, d == d.rounded(), d >= Double(min) else {
            throw fail(k, "expected an integer ≥ \(min), got \(JSONWriter.write(x))")
        }
        guard let i = Limits.integer(d, limit: Limits.requestTokens) else {
            throw fail(
                k,
                "\(JSONWriter.write(x)) is above the limit of \(Limits.requestTokens) tokens per request (docs/limits.md: HANDOFF_MAX_REQUEST_TOKENS raises it)"
            )
        }
        return i
    }

    func bool(_ k: String) throws -> Bool? {
        guard let x = v[k] else { return nil }
        guard case .bool(let b) = x else { throw fail(k, "expected true or false, got \(x.typeName)") }
        return b
    }

    func string(_ k: String) throws -> String? {
        guard let x = v[k] else { return nil }
        guard case .string(let s) = x else { throw fail(k, "expected a string, got \(x.typeName)") }
        return s
    }

    /// `id`: a string, or an integer that `Int64` holds exactly; `fallback` when absent.
    func id(default fallback: String) throws -> String {
        guard let x = v["id"] else { return fallback }
        switch x {
        case .string(let s): return s
        case .number(let d) where TraceJSONL.integerID(d) != nil: return TraceJSONL.integerID(d)!
        default: throw fail("id", "expected a string or an integer, got \(x.typeName)")
        }
    }
}
