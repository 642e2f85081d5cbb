import Foundation
import HandoffSupport

/// The columnar trace form, for long reasoning traces: a directory of
///
/// - `index.jsonl` — one line per request with every field of the JSONL form except
///   `difficulty` and `steps` (`output_tokens` is required);
/// - `difficulty.npy` — all tokens' difficulties concatenated, dtype `|u1` (value q means q/255),
///   `<f2` or `<f4`; memory-mapped when read;
/// - `offsets.npy` — `<i8`, requests + 1 entries, request r owns `difficulty[offsets[r]:offsets[r+1]]`;
/// - optionally `steps.npy` (`<i4` step boundaries, positions within the request) with
///   `step_offsets.npy` (`<i8`, requests + 1 entries);
/// - optionally `step_scores.npy` and `step_rewards.npy` (`<f4` or `<f8`, shape (steps, K)): the
///   per-candidate SPECS records, one row per step in the order of `steps.npy`.
///
/// From Python: `np.save("difficulty.npy", d.astype(np.float16))`, `np.save("offsets.npy",
/// np.cumsum([0] + lengths).astype(np.int64))`, and one JSON object per request in `index.jsonl`.
public enum TraceColumnar {
    /// True when `path` looks like a columnar trace directory.
    public static func isColumnar(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
            && FileManager.default.fileExists(atPath: path + "/index.jsonl")
    }

    public static func read(path: String) throws -> Trace {
        let indexPath = path + "/index.jsonl"
        guard FileManager.default.fileExists(atPath: indexPath) else {
            throw HandoffError.input("not a columnar trace: index.jsonl is missing", file: path)
        }
        let (index, indexOffsets) = try TraceJSONL.read(path: indexPath, indexOnly: true)
        let d = try NPY.map(path + "/difficulty.npy", descrs: ["|u1", "<f2", "<f4"])
        let dtype: DifficultyColumn.DType = d.descr == "|u1" ? .u1 : d.descr == "<f2" ? .f2 : .f4
        let column = DifficultyColumn(base: d.base, count: d.count, dtype: dtype, owner: d.file)
        let offsets = try NPY.readInts(path + "/offsets.npy")
        let offFile = path + "/offsets.npy"
        guard offsets.count == index.count + 1 else {
            throw HandoffError.input(
                "has \(offsets.count) entries; expected requests + 1 = \(index.count + 1)", file: offFile)
        }
        guard offsets.first == 0, offsets.last == d.count else {
            throw HandoffError.input(
                "must start at 0 and end at the length of difficulty.npy (\(d.count))", file: offFile)
        }
        for r in 0..<index.count {
            let n = offsets[r + 1] - offsets[r]
            let declared = indexOffsets[r + 1] - indexOffsets[r]
            guard n == declared else {
                throw HandoffError.input(
                    "request \(index.requests[r].id) has \(n) tokens in offsets.npy but output_tokens \(declared)",
                    file: indexPath, line: r + 1, field: "output_tokens")
            }
        }
        // Validate the range once: O(tokens), a sequential pass over the mapping.
        if dtype != .u1 {
            for i in 0..<d.count where !(column[i] >= 0 && column[i] <= 1) {
                let r = offsets.lastIndex(where: { $0 <= i }) ?? 0
                throw HandoffError.input(
                    "request \(index.requests[min(r, index.count - 1)].id) token \(i - offsets[min(r, index.count - 1)]): difficulty \(column[i]) is out of range [0, 1]",
                    file: path + "/difficulty.npy", field: "difficulty[\(i)]")
            }
        }
        let (steps, stepOffsets) = try readSteps(path, requests: index.requests, offsets: offsets)
        let (k, records) = try readStepRecords(path, steps: steps.count)
        return Trace(
            requests: index.requests, offsets: offsets, difficulty: column, steps: steps, stepOffsets: stepOffsets,
            candidates: k, stepScores: records["step_scores"] ?? [], stepRewards: records["step_rewards"] ?? [])
    }

    /// steps.npy and step_offsets.npy, when present, checked as the JSONL `steps` field is: per
    /// request, increasing positions in (0, output_tokens].
    static func readSteps(
        _ path: String, requests: [TraceRequest], offsets: [Int]
    ) throws -> (steps: [Int32], stepOffsets: [Int]?) {
        let stepsFile = path + "/steps.npy"
        let soFile = path + "/step_offsets.npy"
        guard FileManager.default.fileExists(atPath: stepsFile) else {
            if FileManager.default.fileExists(atPath: soFile) {
                throw HandoffError.input("step_offsets.npy without steps.npy; give both or neither", file: soFile)
            }
            return ([], nil)
        }
        let raw = try NPY.readInts(stepsFile)
        let so = try NPY.readInts(soFile)
        guard so.count == requests.count + 1, so.first == 0, so.last == raw.count else {
            throw HandoffError.input(
                "must have requests + 1 entries from 0 to the length of steps.npy (\(raw.count))", file: soFile)
        }
        for r in 0..<requests.count {
            guard so[r + 1] >= so[r] else {
                throw HandoffError.input(
                    "entry \(r + 1) (\(so[r + 1])) is below entry \(r) (\(so[r])); offsets must not decrease",
                    file: soFile)
            }
            let n = offsets[r + 1] - offsets[r]
            var prev = 0
            for j in so[r]..<so[r + 1] {
                guard raw[j] > prev, raw[j] <= n else {
                    throw HandoffError.input(
                        "request \(requests[r].id) step \(j - so[r]): position \(raw[j]); expected increasing integers in (0, \(n)]",
                        file: stepsFile, field: "steps[\(j)]")
                }
                prev = raw[j]
            }
        }
        return (raw.map { Int32($0) }, so)
    }

    /// step_scores.npy and step_rewards.npy, when present: one row of K finite numbers per step,
    /// the same K in both. Returns K (0 without them) and the files' values by name.
    static func readStepRecords(_ path: String, steps: Int) throws -> (candidates: Int, records: [String: [Float]]) {
        var k = 0
        var records: [String: [Float]] = [:]
        for key in ["step_scores", "step_rewards"] where FileManager.default.fileExists(atPath: path + "/\(key).npy") {
            let file = path + "/\(key).npy"
            let (columns, values) = try NPY.readFloats2D(file)
            guard values.count == steps * columns, columns > 0 else {
                throw HandoffError.input(
                    "has \(values.count / max(columns, 1)) rows; expected one per step (\(steps), from steps.npy)",
                    file: file)
            }
            guard k == 0 || columns == k else {
                throw HandoffError.input("has \(columns) columns but step_scores.npy has \(k)", file: file)
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw HandoffError.input(
                    "row \(bad / columns) column \(bad % columns) is not a finite number", file: file)
            }
            k = columns
            records[key] = values
        }
        return (k, records)
    }

    /// The files a columnar trace directory may hold.
    public static let fileNames: Set<String> = [
        "index.jsonl", "difficulty.npy", "offsets.npy", "steps.npy", "step_offsets.npy",
        "step_scores.npy", "step_rewards.npy"
    ]

    /// Writes `trace` as a columnar directory (atomically: built aside, then renamed).
    public static func write(_ trace: Trace, to path: String, dtype: DifficultyColumn.DType) throws {
        try FileIO.writeDirectoryAtomically(path, ownNames: fileNames) { dir in
            var index = ""
            for r in 0..<trace.count { index += JSONWriter.write(.object(TraceJSONL.metadata(trace, r))) + "\n" }
            try Data(index.utf8).write(to: URL(fileURLWithPath: dir + "/index.jsonl"))
            let col = trace.difficulty
            let data: Data
            // (`writeStreaming` converts the same way, value by value: keep the two in step.)
            if col.dtype == dtype {
                data = NPY.encode(descr: dtype.npyDescr, count: col.count, data: col.rawBytes)
            } else {
                switch dtype {
                case .u1:
                    let q = (0..<col.count).map { UInt8((min(max(col[$0], 0), 1) * 255).rounded()) }
                    data = q.withUnsafeBytes { NPY.encode(descr: "|u1", count: q.count, data: $0) }
                case .f2:
                    let q = (0..<col.count).map { Float16(col[$0]) }
                    data = q.withUnsafeBytes { NPY.encode(descr: "<f2", count: q.count, data: $0) }
                case .f4:
                    let q = (0..<col.count).map { col[$0] }
                    data = q.withUnsafeBytes { NPY.encode(descr: "<f4", count: q.count, data: $0) }
                }
            }
            try data.write(to: URL(fileURLWithPath: dir + "/difficulty.npy"))
            try writeOffsetsAndSteps(
                dir, offsets: trace.offsets, steps: trace.steps, stepOffsets: trace.stepOffsets,
                candidates: trace.candidates, scores: trace.stepScores, rewards: trace.stepRewards)
        }
    }

    /// `offsets.npy` and, when there are steps, `steps.npy`, `step_offsets.npy` and the candidates' files.
    static func writeOffsetsAndSteps(
        _ dir: String, offsets: [Int], steps: [Int32], stepOffsets: [Int], candidates: Int,
        scores: [Float], rewards: [Float]
    ) throws {
        try NPY.encode(offsets.map { Int64($0) }).write(to: URL(fileURLWithPath: dir + "/offsets.npy"))
        if !steps.isEmpty {
            try NPY.encode(steps).write(to: URL(fileURLWithPath: dir + "/steps.npy"))
            try NPY.encode(stepOffsets.map { Int64($0) }).write(to: URL(fileURLWithPath: dir + "/step_offsets.npy"))
        }
        for (key, xs) in [("step_scores", scores), ("step_rewards", rewards)] where !xs.isEmpty {
            try NPY.encode(xs, columns: candidates).write(to: URL(fileURLWithPath: dir + "/\(key).npy"))
        }
    }
}

extension TraceColumnar {
    /// Writes a synthetic trace as a columnar directory while generating it, byte for byte what
    /// `write(spec.generate(), …)` writes: the difficulty column goes to disk request by request, so
    /// memory is O(longest request + requests + steps), not O(tokens). Atomic like `write`.
    /// - Returns: the requests and output tokens written.
    @discardableResult
    public static func writeStreaming(
        _ spec: SyntheticTraceSpec, to path: String, dtype: DifficultyColumn.DType
    ) throws -> (requests: Int, tokens: Int) {
        var tokens = 0
        try FileIO.writeDirectoryAtomically(path, ownNames: fileNames) { dir in
            let file = dir + "/difficulty.npy"
            guard FileManager.default.createFile(atPath: file, contents: nil),
                let out = FileHandle(forWritingAtPath: file)
            else {
                throw HandoffError(file: file, "cannot create the file", exitCode: 1)
            }
            defer { try? out.close() }
            // The header's length does not depend on the count (it is padded to 64 bytes, and a
            // count needs far fewer digits than the padding leaves), so it is written now and
            // rewritten with the count at the end.
            let header = { (n: Int) in
                [UInt8](0..<0).withUnsafeBytes { NPY.encode(descr: dtype.npyDescr, count: n, data: $0) }
            }
            let placeholder = header(0)
            try out.write(contentsOf: placeholder)
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            var index = ""
            var offsets = [0]
            var steps: [Int32] = []
            var stepOffsets = [0]
            var scores: [Float] = []
            var rewards: [Float] = []
            try spec.forEachRequest { q in
                for v in q.difficulty {
                    switch dtype {
                    case .u1: buffer.append(UInt8((min(max(v, 0), 1) * 255).rounded()))
                    case .f2: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
                    case .f4: withUnsafeBytes(of: v.bitPattern.littleEndian) { buffer.append(contentsOf: $0) }
                    }
                    if buffer.count >= 1 << 20 {
                        try out.write(contentsOf: buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
                tokens += q.difficulty.count
                offsets.append(tokens)
                index +=
                    JSONWriter.write(.object(TraceJSONL.metadata(q.request, outputTokens: q.difficulty.count))) + "\n"
                steps.append(contentsOf: q.steps)
                stepOffsets.append(steps.count)
                scores.append(contentsOf: q.scores)
                rewards.append(contentsOf: q.rewards)
            }
            try out.write(contentsOf: buffer)
            let final = header(tokens)
            guard final.count == placeholder.count else {
                throw HandoffError(file: file, "the header grew with the count \(tokens)", exitCode: 1)
            }
            try out.seek(toOffset: 0)
            try out.write(contentsOf: final)
            try Data(index.utf8).write(to: URL(fileURLWithPath: dir + "/index.jsonl"))
            try writeOffsetsAndSteps(
                dir, offsets: offsets, steps: steps, stepOffsets: stepOffsets,
                candidates: spec.candidatesPerStep, scores: scores, rewards: rewards)
        }
        return (spec.requests, tokens)
    }
}

/// Reads either trace form, by what `path` is.
public enum TraceReader {
    public static func read(path: String) throws -> Trace {
        if TraceColumnar.isColumnar(path) { return try TraceColumnar.read(path: path) }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw HandoffError.input("is a directory but not a columnar trace (no index.jsonl)", file: path)
        }
        return try TraceJSONL.read(path: path)
    }
}
