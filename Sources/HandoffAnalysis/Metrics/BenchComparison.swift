import Foundation
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff compare`: a `vllm bench serve --save-result` file from the user's own deployment,
/// its workload rebuilt and simulated under a scenario, and the error of every headline figure.
///
/// The workload taken from the file:
/// - **lengths**: `input_lens` and `output_lens` per request (`--save-detailed`), failed requests
///   left out; without them, `num_prompts` requests at the mean lengths
///   (`total_*_tokens / completed`), and `exactLengths` is false;
/// - **arrivals**: `request_rate` "inf" is a closed loop at `max_concurrency` (every request at
///   once when that is null); a finite rate is Poisson, or gamma with cv = 1/√burstiness as vLLM
///   draws it. vLLM's client holds requests back at `max_concurrency`; the simulator's frontend
///   does not, so a finite rate with a cap is simulated uncapped (noted in `notes`);
/// - **difficulty** (what a hybrid policy offloads on): the scenario's synthetic burst process at
///   each request's length, or, when the scenario's trace is a file, sampled from it by length
///   class, as `trace import-requests` does.
public struct BenchComparison: Sendable {
    public struct Row: Sendable {
        public var metric: String
        public var measured: Double
        public var predicted: Double
        /// (predicted − measured) / measured, nil when measured is 0.
        public var error: Double? { measured != 0 ? (predicted - measured) / measured : nil }
    }

    /// The metrics compared, in the table's order (keys of the result file).
    public static let metrics = [
        "completed", "duration", "request_throughput", "output_throughput", "total_token_throughput",
        "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms",
        "mean_itl_ms", "mean_e2el_ms", "median_e2el_ms", "p90_e2el_ms", "p99_e2el_ms"
    ]

    public var rows: [Row]
    public var predicted: JSONValue
    public var requests: Int
    public var exactLengths: Bool
    public var traffic: TrafficSpec
    public var notes: [String]

    /// The lengths and settings read from a result file.
    public struct Workload: Sendable {
        public var inputLens: [Int]
        public var outputLens: [Int]
        public var exactLengths: Bool
        public var requestRate: Double?
        public var burstiness: Double
        public var maxConcurrency: Int?
        public var measured: JSONValue
    }

    /// Reads a result file; errors name the file and the field.
    public static func read(path: String) throws -> Workload {
        let text = String(decoding: try FileIO.read(path), as: UTF8.self)
        let v: JSONValue
        do { v = try JSONParser.parse(text) } catch {
            throw HandoffError.input(
                "not JSON at byte \(error.offset): \(error.message); expected the file `vllm bench serve --save-result` writes",
                file: path)
        }
        guard case .object = v else {
            throw HandoffError.input("expected a JSON object (vllm bench serve --save-result)", file: path)
        }
        let f = BenchFields(v: v, path: path)
        for k in metrics where k != "completed" { _ = try f.number(k) }
        let completed = try f.count("completed")
        let (requestRate, burstiness, maxConcurrency) = try f.arrivals()
        let (input, output, exact) = try f.lengths(completed: completed)
        return Workload(
            inputLens: input, outputLens: output, exactLengths: exact, requestRate: requestRate, burstiness: burstiness,
            maxConcurrency: maxConcurrency, measured: v)
    }

    /// A `vllm bench serve --save-result` file's fields, read with errors that name the file and
    /// the field.
    struct BenchFields {
        let v: JSONValue
        let path: String

        func number(_ k: String) throws -> Double {
            guard case .number(let x)? = v[k] else {
                throw HandoffError.input("missing or not a number; expected vLLM's `\(k)`", file: path, field: k)
            }
            return x
        }

        func count(_ k: String) throws -> Int {
            let x = try number(k)
            guard x >= 0, x == x.rounded(), x <= Double(Limits.requestTokens) * 1e3 else {
                throw HandoffError.input("\(x) is not a count", file: path, field: k)
            }
            return Int(x)
        }

        func lens(_ k: String) throws -> [Int]? {
            switch v[k] {
            case nil, .null?: return nil
            case .numbers(let xs)?:
                for (i, x) in xs.enumerated() where x < 0 || x != x.rounded() || x > Double(Limits.requestTokens) {
                    throw HandoffError.input(
                        "entry \(i) is \(x); expected a token count 0…\(Limits.requestTokens)", file: path, field: k)
                }
                return xs.map { Int($0) }
            case .array(let xs)? where xs.isEmpty: return []
            default: throw HandoffError.input("expected an array of token counts", file: path, field: k)
            }
        }

        /// `request_rate` (nil: "inf"), `burstiness` (1 when absent) and `max_concurrency`.
        func arrivals() throws -> (rate: Double?, burstiness: Double, maxConcurrency: Int?) {
            var requestRate: Double?
            switch v["request_rate"] {
            case .string(let s)? where s == "inf": requestRate = nil
            case .number(let x)? where x > 0 && x.isFinite: requestRate = x
            case nil:
                throw HandoffError.input(
                    "missing; expected a rate in requests/s or \"inf\"", file: path, field: "request_rate")
            default:
                throw HandoffError.input(
                    "expected a positive rate in requests/s or \"inf\"", file: path, field: "request_rate")
            }
            var burstiness = 1.0
            if case .number(let b)? = v["burstiness"] {
                guard b > 0 else { throw HandoffError.input("\(b); expected > 0", file: path, field: "burstiness") }
                burstiness = b
            }
            var maxConcurrency: Int?
            switch v["max_concurrency"] {
            case nil, .null?: maxConcurrency = nil
            case .number(let x)? where x >= 1 && x == x.rounded(): maxConcurrency = Int(x)
            default: throw HandoffError.input("expected an integer ≥ 1 or null", file: path, field: "max_concurrency")
            }
            return (requestRate, burstiness, maxConcurrency)
        }

        /// Each completed request's lengths from `input_lens`/`output_lens` (`--save-detailed`;
        /// failed requests left out), or else every request at the mean lengths (`exact` false).
        func lengths(completed: Int) throws -> (input: [Int], output: [Int], exact: Bool) {
            var input: [Int]
            var output: [Int]
            var exact = true
            if let i = try lens("input_lens"), let o = try lens("output_lens") {
                guard i.count == o.count else {
                    throw HandoffError.input(
                        "\(o.count) entries against \(i.count) in input_lens; expected one per request", file: path,
                        field: "output_lens")
                }
                var errors = [String](repeating: "", count: i.count)
                if case .array(let es)? = v["errors"], es.count == i.count {
                    for (k, e) in es.enumerated() { if case .string(let s) = e { errors[k] = s } }
                }
                // Failed requests (an error, or nothing generated) are not part of the workload served.
                let kept = i.indices.filter { errors[$0].isEmpty && o[$0] > 0 }
                input = kept.map { i[$0] }
                output = kept.map { o[$0] }
            } else {
                guard completed > 0 else {
                    throw HandoffError.input("0 requests completed: nothing to rebuild", file: path, field: "completed")
                }
                exact = false
                let meanIn = Int((try number("total_input_tokens") / Double(completed)).rounded())
                let meanOut = max(1, Int((try number("total_output_tokens") / Double(completed)).rounded()))
                input = Array(repeating: meanIn, count: completed)
                output = Array(repeating: meanOut, count: completed)
            }
            guard !input.isEmpty else {
                throw HandoffError.input("no completed request with output tokens", file: path, field: "output_lens")
            }
            return (input, output, exact)
        }
    }

    /// Simulates `workload` under `scenario` and compares.
    public static func run(_ w: Workload, scenario given: Scenario) throws -> BenchComparison {
        var sc = given
        var notes: [String] = []
        let rows = w.inputLens.indices.map {
            RequestImport.Row(line: $0 + 1, arrivalS: 0, promptTokens: w.inputLens[$0], outputTokens: w.outputLens[$0])
        }
        var synthetic = SyntheticTraceSpec()
        var recorded: Trace?
        switch sc.trace {
        case .synthetic(let spec): synthetic = spec
        case .file: recorded = try Simulation.loadTrace(sc)
        }
        let trace = RequestImport.trace(rows, idPrefix: "bench", synthetic: synthetic, recorded: recorded)
        var t = sc.traffic
        t.requests = trace.count
        t.maxInFlight = 0
        if let rate = w.requestRate {
            t.rateRps = rate
            t.arrival = w.burstiness == 1 ? .poisson : .gamma
            t.cv = 1 / w.burstiness.squareRoot()
            if let c = w.maxConcurrency {
                notes.append(
                    "max_concurrency \(c) with a finite rate: vLLM's client holds requests back at \(c) in flight; simulated without that cap"
                )
            }
        } else {
            t.arrival = .closed_loop
            t.concurrency = w.maxConcurrency ?? trace.count
            t.thinkTimeS = 0
        }
        sc.traffic = t
        if case .string(let id)? = w.measured["model_id"], !id.isEmpty {
            // The measurement's model against the scenario's: a comparison across models measures
            // nothing. Matched loosely (the last path component, ignoring case), since a model_id
            // is often a Hugging Face repo id (Qwen/Qwen3-32B) or a served alias.
            let measured = id.split(separator: "/").last.map { $0.lowercased() } ?? id.lowercased()
            let names = sc.tiers.map(\.model.name)
            if !names.contains(where: {
                let n = $0.lowercased()
                return n.contains(measured) || measured.contains(n)
            }) {
                notes.append(
                    "WARNING: the result's model_id is '\(id)' but the scenario's tiers run \(names.joined(separator: ", ")): this compares different models"
                )
            }
        }
        if !w.exactLengths {
            notes.append(
                "no input_lens/output_lens (run vllm bench serve with --save-detailed): every request at the mean lengths"
            )
        }
        let result = try Simulation.run(sc, trace: trace)
        let predicted = VLLMBenchResult.json(result, detailed: false)
        var out: [Row] = []
        for k in metrics {
            guard case .number(let m)? = w.measured[k], case .number(let p)? = predicted[k] else { continue }
            out.append(Row(metric: k, measured: m, predicted: p))
        }
        return BenchComparison(
            rows: out, predicted: predicted, requests: trace.count, exactLengths: w.exactLengths, traffic: t,
            notes: notes)
    }

    /// Stable keys: `requests`, `exact_lengths`, `traffic`, `notes`, and `rows` of
    /// `{metric, measured, predicted, error_pct}` (error null when measured is 0).
    public var json: JSONValue {
        .object([
            ("requests", .number(Double(requests))),
            ("exact_lengths", .bool(exactLengths)),
            (
                "traffic",
                .object(
                    traffic.arrival == .closed_loop
                        ? [("arrival", .string("closed_loop")), ("concurrency", .number(Double(traffic.concurrency)))]
                        : [
                            ("arrival", .string(traffic.arrival.rawValue)), ("rate_rps", .number(traffic.rateRps)),
                            ("cv", .number(traffic.cv))
                        ])
            ),
            ("notes", .array(notes.map { .string($0) })),
            (
                "rows",
                .array(
                    rows.map { r in
                        .object([
                            ("metric", .string(r.metric)), ("measured", .number(r.measured)),
                            ("predicted", .number(r.predicted)),
                            ("error_pct", r.error.map { .number(($0 * 1e4).rounded() / 100) } ?? .null)
                        ])
                    })
            )
        ])
    }

    public var table: String {
        var s = "\(requests) requests (\(exactLengths ? "lengths from the file" : "mean lengths")), "
        s +=
            traffic.arrival == .closed_loop
            ? "closed loop at concurrency \(traffic.concurrency)\n"
            : "\(traffic.arrival.rawValue) arrivals at \(JSONWriter.number(traffic.rateRps)) req/s\n"
        for n in notes { s += "note: \(n)\n" }
        func left(_ x: String, _ n: Int) -> String { x.padding(toLength: n, withPad: " ", startingAt: 0) }
        func right(_ x: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - x.count)) + x }
        s += left("metric", 24) + right("measured", 14) + right("predicted", 14) + right("error", 10) + "\n"
        for r in rows {
            s +=
                left(r.metric, 24) + right(HumanNumber.format(r.measured), 14)
                + right(HumanNumber.format(r.predicted), 14)
                + right(r.error.map { String(format: "%+.1f%%", $0 * 100) } ?? "—", 10) + "\n"
        }
        return s
    }
}
