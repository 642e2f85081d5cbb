import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `handoff calibrate`: measures a server with a probe design and fits the `linear` latency law
///
///     iteration ms = fixed + a·prefill tokens + e·prefill attention + d[B] + c·context read
///
/// with d[B] the decode cost of a batch of B sequences, one coefficient per probed batch size
/// (llama.cpp on a CPU switches kernels above B = 1: measured 6.9 ms per step at B = 1, 27.5 at
/// B = 2, 41.2 at B = 4 for SmolLM2-135M on one thread, which no single per-sequence slope fits)
/// (the law `LatencyModel` applies per engine iteration) by weighted least squares (weights 1/y²,
/// so every probe counts by its relative error).
///
/// Probes, all greedy with `ignore_eos` and random token-id prompts (exact lengths, no prefix reuse):
/// - prefill: prompt length n, one output token, concurrency 1. The server's `timings.prompt_ms`
///   (or, timed by the client, the time to first token) is ⌈n/ubatch⌉ iterations carrying n tokens
///   and n²/2 attention pairs.
/// - decode: B identical requests at once (prompt P, G output tokens). The server's
///   `predicted_ms / predicted_n` per request (or, timed by the client, the mean gap between
///   streamed tokens, (t_last − t_first)/(n − 1)) is one iteration with B sequences reading
///   B·(P + G/2) context tokens on average.
///
/// Every probe keeps both readings when the server reports `timings` (llama.cpp); servers without
/// them (vLLM, SGLang, an API) are calibrated from the client's clock alone (`Design.timing`).
public struct Calibrator: Sendable {
    public struct Design: Sendable {
        /// Lengths off and on multiples of 16: llama.cpp on a CPU prefills a 65-token prompt at 15.5 ms
        /// per token and an 80-token one at 14.4 (1.07B model), so aligned lengths alone bias low.
        public var prefillLengths = [24, 60, 100, 200, 360, 700, 1030]
        /// Small prefill batches, measured one by one on top of a cached prefix of
        /// `smallPrefillPrefix` tokens: what verifying n − 1 draft tokens costs (`prefill_ms_by_tokens`).
        public var smallPrefillTokens = Array(1...12)
        public var smallPrefillPrefix = 128
        public var decodeBatches = [1, 2, 3, 4]
        public var decodeContexts = [32, 512]
        /// 5 repeats of 64 tokens: on this shared 2-core VM, 20 back-to-back batch-1 probes of one
        /// server (Qwen2.5-Coder-0.5B, one thread, 48 tokens) ranged 21.7–39.3 ms per token around a
        /// median of 25.1, and the 2026-12-02 calibration's 3 repeats of 48 fitted 30.8 while the runs
        /// that followed decoded at 24–25 ms per token (E2EL p50 predicted 10–25% high).
        public var decodeTokens = 64
        public var repeats = 5
        /// Tokens the server processes per prefill iteration (llama.cpp `--ubatch-size`, 512 by default).
        public var ubatch = 512
        /// Top-k log-probabilities per generated token, as the tier serves them (computing them
        /// costs time per token: a softmax and a partial sort over the vocabulary).
        public var topLogprobs = 0
        /// Whose clock the fit uses: the server's `timings` (llama.cpp) or the client's (any
        /// OpenAI-compatible server: time to first token, gaps between streamed tokens).
        public var timing: Timing = .server
        public init() {}
        var batchColumns: [Int] { Array(Set(decodeBatches)).sorted() }
    }

    public enum Timing: String, Sendable, CaseIterable { case server, client }

    public struct Probe: Sendable {
        public var kind: String
        public var tokens: Int
        public var batch: Int
        public var x: [Double]
        /// Median over repeats of the measured iteration-law quantity, ms, by the design's clock.
        public var measuredMs: Double
        public var fittedMs: Double = 0
        /// The same medians by each clock (`serverMs` nil when the server reports no timings,
        /// `clientMs` when fewer than two tokens streamed with text).
        public var serverMs: Double?
        public var clientMs: Double?

        /// This probe read by another clock (for fitting one measurement both ways).
        public func timed(by t: Timing) -> Probe? {
            var p = self
            switch t {
            case .client:
                guard let c = clientMs else { return nil }
                p.measuredMs = c
            case .server:
                guard let s = serverMs else { return nil }
                p.measuredMs = s
            }
            if kind == "prefill-small" { p.fittedMs = p.measuredMs }
            return p
        }
    }

    /// One repeat's reading by both clocks (nil where that clock has nothing to say).
    struct Reading {
        var server: Double?
        var client: Double?
    }

    /// A prefill probe (one output token): the server's prompt time, the client's time to first
    /// token (the whole request's time when the token streamed no text, as a random-weight model's
    /// may not).
    static func prefillReading(_ res: CompletionResult, url: URL, timing: Timing) throws -> Reading {
        if timing == .server && res.timings == nil {
            throw HandoffError(
                "\(url): no `timings` in the answer (not llama.cpp?); calibrate such a server with --timing client",
                exitCode: 1)
        }
        return Reading(server: res.timings?.promptMs, client: (res.ttft ?? res.duration) * 1000)
    }

    /// A decode probe: ms per generated token by the server's timings and by the client's clock
    /// (nil with fewer than two streamed tokens).
    static func decodeReading(_ res: CompletionResult) -> Reading {
        let ts = res.tokens
        let server = res.timings.flatMap { $0.predictedTokens > 0 ? $0.predictedMs / Double($0.predictedTokens) : nil }
        let client = ts.count >= 2 ? (ts[ts.count - 1].at - ts[0].at) / Double(ts.count - 1) * 1000 : nil
        return Reading(server: server, client: client)
    }

    /// The probe's medians over repeats; throws when the design's clock has no reading.
    func probe(kind: String, tokens: Int, batch: Int, x: [Double], _ rs: [Reading]) throws -> Probe {
        func median(_ xs: [Double?]) -> Double? {
            xs.contains(where: { $0 == nil }) || xs.isEmpty ? nil : Statistics.median(xs.map { $0! })
        }
        let server = median(rs.map(\.server))
        let client = median(rs.map(\.client))
        guard let m = design.timing == .server ? server : client else {
            throw HandoffError(
                design.timing == .server
                    ? "\(self.client.base): \(kind) probes returned no timings (not llama.cpp?); calibrate such a server with --timing client"
                    : "\(self.client.base): \(kind) probes streamed fewer than 2 tokens with text; the client's clock cannot time them",
                exitCode: 1)
        }
        return Probe(
            kind: kind, tokens: tokens, batch: batch, x: x, measuredMs: m, fittedMs: kind == "prefill-small" ? m : 0,
            serverMs: server, clientMs: client)
    }

    public var client: OpenAIClient
    public var design: Design
    public var seed: UInt64 = 1

    public init(client: OpenAIClient, design: Design = Design()) {
        self.client = client
        self.design = design
    }

    func tokens(_ n: Int, _ rng: inout RandomStream) -> [Int] { Self.randomTokens(n, rng) }

    /// A prompt of exactly `n` random token ids (no prefix another probe could reuse).
    static func randomTokens(_ n: Int, _ rng: RandomStream) -> [Int] {
        (0..<n).map { _ in 1000 + rng.int(below: 20000) }
    }

    /// Runs the probes. `progress(done, total)` after each probe.
    public func measure(progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> [Probe] {
        var rng = RandomStream(seed: seed, name: "calibrate")
        var probes: [Probe] = []
        let total =
            design.prefillLengths.count + design.decodeBatches.count * design.decodeContexts.count
            + design.smallPrefillTokens.count
        // Warm-up: the first request after a start pays for page faults and allocations.
        var warm = CompletionRequest(prompt: "", maxTokens: 4, ignoreEOS: true)
        warm.promptTokenIDs = tokens(32, &rng)
        warm.cachePrompt = false
        _ = try await client.complete(warm)
        for n in design.prefillLengths {
            probes.append(try await prefillProbe(n, &rng))
            progress(probes.count, total)
        }
        // Small batches: prefix cached in slot 0, then n new tokens after it (prompt_n = n).
        for n in design.smallPrefillTokens {
            probes.append(try await smallPrefillProbe(n, &rng))
            progress(probes.count, total)
        }
        for b in design.decodeBatches {
            for p in design.decodeContexts {
                probes.append(try await decodeProbe(batch: b, context: p, &rng))
                progress(probes.count, total)
            }
        }
        return probes
    }

    /// A prefill of `n` new tokens, one output token, `repeats` times.
    func prefillProbe(_ n: Int, _ rng: inout RandomStream) async throws -> Probe {
        var rs: [Reading] = []
        for _ in 0..<design.repeats {
            var r = CompletionRequest(prompt: "", maxTokens: 1, topLogprobs: design.topLogprobs, ignoreEOS: true)
            r.promptTokenIDs = tokens(n, &rng)
            r.cachePrompt = false
            rs.append(
                try Self.prefillReading(try await client.complete(r), url: client.base, timing: design.timing))
        }
        let iters = Double((n + design.ubatch - 1) / design.ubatch)
        return
            try probe(
                kind: "prefill", tokens: n, batch: 0,
                x: [iters, Double(n), Double(n) * Double(n) / 2]
                    + [Double](repeating: 0, count: design.batchColumns.count) + [0], rs)
    }

    /// `n` new tokens after a prefix cached in slot 0, `repeats` times.
    func smallPrefillProbe(_ n: Int, _ rng: inout RandomStream) async throws -> Probe {
        var rs: [Reading] = []
        for _ in 0..<design.repeats {
            let prefix = tokens(design.smallPrefillPrefix, &rng)
            var warmPrefix = CompletionRequest(
                prompt: "", maxTokens: 1, topLogprobs: design.topLogprobs, ignoreEOS: true)
            warmPrefix.promptTokenIDs = prefix
            warmPrefix.cachePrompt = true
            warmPrefix.slot = 0
            _ = try await client.complete(warmPrefix)
            var r = warmPrefix
            r.promptTokenIDs = prefix + tokens(n, &rng)
            let res = try await client.complete(r)
            // Only a server that reports timings can confirm the prefix was reused.
            if let t = res.timings, t.promptTokens != n {
                throw HandoffError(
                    "\(client.base): the small-batch probe prefilled \(t.promptTokens) tokens, not \(n) (is the prompt cache off? calibrate needs --parallel ≥ 1 with slot 0 free)",
                    exitCode: 1)
            }
            rs.append(try Self.prefillReading(res, url: client.base, timing: design.timing))
        }
        return try probe(kind: "prefill-small", tokens: n, batch: 0, x: [], rs)
    }

    /// `b` requests of `p`-token prompts decoding side by side, `repeats` times.
    func decodeProbe(batch b: Int, context p: Int, _ rng: inout RandomStream) async throws -> Probe {
        var rs: [Reading] = []
        for _ in 0..<design.repeats {
            let reqs = (0..<b).map { _ -> CompletionRequest in
                var r = CompletionRequest(
                    prompt: "", maxTokens: design.decodeTokens, topLogprobs: design.topLogprobs, ignoreEOS: true
                )
                r.promptTokenIDs = tokens(p, &rng)
                r.cachePrompt = false
                return r
            }
            let c = client
            let per = try await withThrowingTaskGroup(of: Reading.self) { g in
                for r in reqs { g.addTask { Self.decodeReading(try await c.complete(r)) } }
                var xs: [Reading] = []
                for try await x in g { xs.append(x) }
                return xs
            }
            // A batch's reading: the median over its requests, by each clock that read them all.
            let servers = per.compactMap(\.server)
            let clients = per.compactMap(\.client)
            rs.append(
                Reading(
                    server: servers.count == per.count ? Statistics.median(servers) : nil,
                    client: clients.count == per.count ? Statistics.median(clients) : nil))
        }
        let ctx = Double(b) * (Double(p) + Double(design.decodeTokens) / 2)
        return
            try probe(
                kind: "decode", tokens: p, batch: b,
                x: [1, 0, 0] + design.batchColumns.map { $0 == b ? 1 : 0 } + [ctx], rs)
    }

    /// The fitted law: coefficients by name, `decode_ms_by_batch` for B = 1…max probed B (batch
    /// sizes not probed are interpolated).
    public struct Coefficients: Sendable {
        public var fixedMs: Double
        public var prefillMsPerToken: Double
        public var prefillAttentionMs: Double
        public var decodeMsByBatch: [Double]
        public var msPerContextToken: Double
        /// Measured, not fitted: the small-batch probes' medians, n = 1, 2, …
        public var prefillMsByTokens: [Double] = []
    }

    /// Fits the law to the probes (GSL weighted least squares, coefficients ≥ 0) and fills `fittedMs`.
    public static func fit(_ probes: inout [Probe], design: Design) throws -> Coefficients {
        let fitted = probes.indices.filter { probes[$0].kind != "prefill-small" }
        let f = try LeastSquares.fit(
            rows: fitted.map { probes[$0].x }, y: fitted.map { probes[$0].measuredMs },
            weights: fitted.map { 1 / (probes[$0].measuredMs * probes[$0].measuredMs) })
        for (k, i) in fitted.enumerated() { probes[i].fittedMs = f.fitted[k] }
        let small = probes.filter { $0.kind == "prefill-small" }.sorted { $0.tokens < $1.tokens }
        // A contiguous table from n = 1 (prefill_ms_by_tokens[n − 1]).
        var byTokens: [Double] = []
        for (k, p) in small.enumerated() where p.tokens == k + 1 { byTokens.append(p.measuredMs) }
        let c = f.coefficients
        let cols = design.batchColumns
        let measured = Dictionary(uniqueKeysWithValues: cols.enumerated().map { ($1, c[3 + $0]) })
        var byBatch: [Double] = []
        for b in 1...(cols.last ?? 1) {
            if let v = measured[b] {
                byBatch.append(v)
                continue
            }
            let lo = cols.last(where: { $0 < b })
            let hi = cols.first(where: { $0 > b })
            switch (lo, hi) {
            case (let l?, let h?):
                byBatch.append(measured[l]! + (measured[h]! - measured[l]!) * Double(b - l) / Double(h - l))
            case (nil, let h?): byBatch.append(measured[h]! * Double(b) / Double(h))
            default: byBatch.append(byBatch.last ?? 0)
            }
        }
        return Coefficients(
            fixedMs: c[0], prefillMsPerToken: c[1], prefillAttentionMs: c[2], decodeMsByBatch: byBatch,
            msPerContextToken: c[c.count - 1],
            prefillMsByTokens: byTokens)
    }

    /// The calibration file a scenario references with `latency: {calibration: FILE}`.
    public static func yaml(
        server: String, model: String, coefficients c: Coefficients, probes: [Probe], timing: Timing = .server
    ) -> String {
        let rel = probes.filter { $0.kind != "prefill-small" }.map {
            abs($0.fittedMs - $0.measuredMs) / $0.measuredMs * 100
        }
        func n(_ x: Double) -> String { JSONWriter.number((x * 1e6).rounded() / 1e6) }
        var s =
            "# Written by `handoff calibrate` against \(server).\n# iteration ms = fixed + a·prefill tokens + e·prefill attention pairs + decode_ms_by_batch[B] + c·context tokens read\n"
        s += "server: \(server)\nmodel: \(JSONWriter.quote(model))\n"
        if timing == .client {
            s += "timing: client   # fitted on the client's clock (time to first token, gaps between tokens)\n"
        }
        s += "latency:\n  kind: linear\n"
        s +=
            "  fixed_ms: \(n(c.fixedMs))\n  prefill_ms_per_token: \(n(c.prefillMsPerToken))\n  prefill_attention_ms: \(JSONWriter.number(c.prefillAttentionMs))\n"
        s +=
            "  decode_ms_by_batch: [\(c.decodeMsByBatch.map(n).joined(separator: ", "))]\n  ms_per_context_token: \(JSONWriter.number(c.msPerContextToken))\n"
        if !c.prefillMsByTokens.isEmpty {
            s += "  prefill_ms_by_tokens: [\(c.prefillMsByTokens.map(n).joined(separator: ", "))]\n"
        }
        s += "fit:\n  probes: \(rel.count)   # fitted; prefill-small probes are the measured table\n"
        s += "  median_abs_error_pct: \(JSONWriter.number((Statistics.median(rel) * 100).rounded() / 100))\n"
        s += "  max_abs_error_pct: \(JSONWriter.number(((rel.max() ?? 0) * 100).rounded() / 100))\n"
        s += "probes:\n"
        for p in probes {
            s +=
                "  - {kind: \(p.kind), tokens: \(p.tokens), batch: \(p.batch), measured_ms: \(JSONWriter.number((p.measuredMs * 1000).rounded() / 1000)), fitted_ms: \(JSONWriter.number((p.fittedMs * 1000).rounded() / 1000))}\n"
        }
        return s
    }
}
