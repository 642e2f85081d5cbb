import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// One alternative the server reported for a token position.
public struct TopToken: Sendable, Equatable {
    public var token: String
    public var logprob: Double
}

/// One streamed token: its text, log-probability, the top-k alternatives, and when it arrived
/// (seconds after the request was sent).
public struct StreamedToken: Sendable {
    public var text: String
    public var logprob: Double?
    public var top: [TopToken]
    public var at: Double

    /// Difficulty of this position: 1 − p(top-1), p from the server's top-k log-probabilities
    /// (falls back to the sampled token's own probability). 0 = certain, → 1 = uniform.
    public var difficulty: Double? {
        if let best = top.map(\.logprob).max() { return min(1, max(0, 1 - exp(best))) }
        if let logprob { return min(1, max(0, 1 - exp(logprob))) }
        return nil
    }
}

/// The server's own accounting of a request (llama.cpp `timings`; absent on servers without it).
public struct ServerTimings: Sendable, Equatable {
    public var cachedTokens: Int
    public var promptTokens: Int
    public var promptMs: Double
    public var predictedTokens: Int
    public var predictedMs: Double
    /// Speculative decoding: draft tokens proposed and accepted (llama-server's `draft_n`,
    /// `draft_n_accepted`), when the server drafts.
    public var draftTokens: Int?
    public var draftAccepted: Int?

    init?(_ v: JSONValue?) {
        guard let v, case .object = v,
            case .number(let pn)? = v["prompt_n"], case .number(let pms)? = v["prompt_ms"],
            case .number(let gn)? = v["predicted_n"], case .number(let gms)? = v["predicted_ms"]
        else { return nil }
        var cached = 0.0
        if case .number(let c)? = v["cache_n"] { cached = c }
        cachedTokens = Int(cached)
        promptTokens = Int(pn)
        promptMs = pms
        predictedTokens = Int(gn)
        predictedMs = gms
        if case .number(let d)? = v["draft_n"] { draftTokens = Int(d) }
        if case .number(let a)? = v["draft_n_accepted"] { draftAccepted = Int(a) }
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [
            ("cache_n", .number(Double(cachedTokens))), ("prompt_n", .number(Double(promptTokens))),
            ("prompt_ms", .number(promptMs)),
            ("predicted_n", .number(Double(predictedTokens))), ("predicted_ms", .number(predictedMs))
        ]
        if let d = draftTokens, let a = draftAccepted {
            o += [("draft_n", .number(Double(d))), ("draft_n_accepted", .number(Double(a)))]
        }
        return .object(o)
    }
}

/// What one streamed completion produced.
public struct CompletionResult: Sendable {
    public var tokens: [StreamedToken] = []
    public var finishReason: String?
    public var timings: ServerTimings?
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Seconds from sending to the last event.
    public var duration: Double = 0
    /// The handler stopped the stream early.
    public var stopped = false
    public var text: String { tokens.map(\.text).joined() }
    public var ttft: Double? { tokens.first?.at }
}

/// A completion to request. `prompt` is sent to `/v1/completions` as is; with `chat` it is the
/// user message of a `/v1/chat/completions` request.
public struct CompletionRequest: Sendable {
    public var prompt: String
    public var maxTokens: Int
    public var temperature = 0.0
    public var topLogprobs = 0
    public var ignoreEOS = false
    public var chat = false
    public var seed: UInt64 = 0
    /// Send these token ids instead of the prompt text (`/v1/completions` accepts both).
    public var promptTokenIDs: [Int]?
    /// llama.cpp: reuse the slot's cached prefix (`cache_prompt`); nil leaves the server default.
    public var cachePrompt: Bool?
    /// llama.cpp: run in this slot (`id_slot`), so a request's calls find their own cached prefix.
    public var slot: Int?

    public init(prompt: String, maxTokens: Int, topLogprobs: Int = 0, ignoreEOS: Bool = false, chat: Bool = false) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.topLogprobs = topLogprobs
        self.ignoreEOS = ignoreEOS
        self.chat = chat
    }

    var body: JSONValue {
        var o: [(String, JSONValue)] = []
        if chat {
            o.append(("messages", .array([.object([("role", .string("user")), ("content", .string(prompt))])])))
            if topLogprobs > 0 { o += [("logprobs", .bool(true)), ("top_logprobs", .number(Double(topLogprobs)))] }
        } else {
            if let ids = promptTokenIDs {
                o.append(("prompt", .numbers(ids.map(Double.init))))
            } else {
                o.append(("prompt", .string(prompt)))
            }
            if topLogprobs > 0 { o.append(("logprobs", .number(Double(topLogprobs)))) }
        }
        o += [
            ("max_tokens", .number(Double(maxTokens))), ("temperature", .number(temperature)),
            ("seed", .number(Double(seed))),
            ("stream", .bool(true)), ("stream_options", .object([("include_usage", .bool(true))]))
        ]
        if ignoreEOS { o.append(("ignore_eos", .bool(true))) }
        if let cachePrompt { o.append(("cache_prompt", .bool(cachePrompt))) }
        if let slot { o.append(("id_slot", .number(Double(slot)))) }
        return .object(o)
    }
}

/// A client of one OpenAI-compatible server (llama.cpp's llama-server, vLLM, SGLang).
///
/// Streams completions token by token with log-probabilities; retries refused connections and
/// 503/429 answers with exponential backoff (never after the first token: a half-streamed
/// completion is not repeated behind the caller's back).
public struct OpenAIClient: Sendable {
    public var base: URL
    public var firstByteTimeout: Double
    public var idleTimeout: Double
    public var retries: Int
    public var backoff: Double
    /// API key and CA file (`https://`); the key is sent, never printed.
    public var connection: ConnectionOptions

    public init(
        base: String, firstByteTimeout: Double = 300, idleTimeout: Double = 60, retries: Int = 3, backoff: Double = 0.5,
        connection: ConnectionOptions = ConnectionOptions()
    ) throws {
        var s = base
        while s.hasSuffix("/") { s.removeLast() }
        if s.hasSuffix("/v1") { s.removeLast(3) }
        guard let u = URL(string: s), let scheme = u.scheme, ["http", "https"].contains(scheme), u.host != nil else {
            throw HandoffError.input("'\(base)' is not a server URL; expected e.g. http://127.0.0.1:8080")
        }
        self.base = u
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
        self.retries = retries
        self.backoff = backoff
        self.connection = connection
        if let ca = connection.caFile, !FileManager.default.isReadableFile(atPath: ca) {
            throw HandoffError.input(
                "CA file '\(ca)' cannot be read; expected a PEM file of the certificate(s) that vouch for \(s)")
        }
    }

    /// Streams a completion. `onToken` sees each token as it arrives (with the tokens so far) and
    /// returns `false` to stop generation there.
    public func complete(
        _ r: CompletionRequest, onToken: (@Sendable (StreamedToken, Int) -> Bool)? = nil
    ) async throws -> CompletionResult {
        let url = base.appendingPathComponent(r.chat ? "v1/chat/completions" : "v1/completions")
        let body = Data(JSONWriter.write(r.body).utf8)
        var attempt = 0
        while true {
            let acc = Accumulator(url: url.absoluteString, chat: r.chat, onToken: onToken)
            do {
                let t0 = Monotonic.now()
                acc.t0 = t0
                let stopped = try await SSEStream.post(
                    url, json: body, connection: connection, firstByteTimeout: firstByteTimeout,
                    idleTimeout: idleTimeout
                ) { payload, at in
                    acc.event(payload, at: at)
                }
                if let e = acc.error { throw e }
                var result = acc.result
                result.stopped = stopped
                result.duration = (acc.lastAt ?? Monotonic.now()) - t0
                return result
            } catch let e as EngineError where e.isTransient && attempt < retries && acc.result.tokens.isEmpty {
                attempt += 1
                try await Task.sleep(nanoseconds: UInt64(backoff * pow(2, Double(attempt - 1)) * 1e9))
            }
        }
    }

    /// GET a JSON document (e.g. `/health`, `/props`).
    public func getJSON(_ path: String, timeout: Double = 10) async throws -> (status: Int, body: JSONValue?) {
        try await send(path, method: "GET", body: nil, timeout: timeout)
    }

    /// POST a JSON body, read a JSON answer (e.g. `/apply-template`, `/tokenize`).
    public func postJSON(_ path: String, _ body: JSONValue, timeout: Double = 60) async throws -> JSONValue {
        let (status, json) = try await send(path, method: "POST", body: body, timeout: timeout)
        guard status == 200, let json else {
            throw EngineError.http(
                url: base.appendingPathComponent(path).absoluteString, status: status,
                body: json.map { JSONWriter.write($0) } ?? "")
        }
        return json
    }

    private func send(
        _ path: String, method: String, body: JSONValue?, timeout: Double
    ) async throws -> (Int, JSONValue?) {
        let url = base.appendingPathComponent(path)
        let collected = Collected()
        let status = try await HTTPClient.request(
            url, method: method, body: body.map { Data(JSONWriter.write($0).utf8) },
            connection: connection, firstByteTimeout: timeout, idleTimeout: timeout
        ) { p in
            collected.bytes.append(contentsOf: p)
            return true
        }
        return (status, try? JSONParser.parse(String(decoding: collected.bytes, as: UTF8.self)))
    }
}

private final class Collected: @unchecked Sendable { var bytes = [UInt8]() }

/// Collects streamed chunks into a `CompletionResult`. Used from the delegate queue only.
private final class Accumulator: @unchecked Sendable {
    let url: String
    let chat: Bool
    let onToken: (@Sendable (StreamedToken, Int) -> Bool)?
    var t0 = 0.0
    var lastAt: Double?
    var result = CompletionResult()
    var error: EngineError?

    init(url: String, chat: Bool, onToken: (@Sendable (StreamedToken, Int) -> Bool)?) {
        self.url = url
        self.chat = chat
        self.onToken = onToken
    }

    func event(_ payload: String, at: Double) -> Bool {
        lastAt = at
        let v: JSONValue
        do { v = try JSONParser.parse(payload) } catch {
            self.error = .malformed(
                url: url, event: payload, reason: "not JSON at byte \(error.offset): \(error.message)")
            return false
        }
        if let err = v["error"] {
            self.error = .http(url: url, status: 500, body: JSONWriter.write(err))
            return false
        }
        if let t = ServerTimings(v["timings"]) { result.timings = t }
        if let u = v["usage"], case .number(let p)? = u["prompt_tokens"] {
            result.promptTokens = Int(p)
            if case .number(let c)? = u["completion_tokens"] { result.completionTokens = Int(c) }
        }
        guard case .array(let choices)? = v["choices"] else {
            if v["usage"] != nil || v["timings"] != nil { return true }
            self.error = .malformed(url: url, event: payload, reason: "no 'choices' array")
            return false
        }
        guard let choice = choices.first else { return true }
        if case .string(let reason)? = choice["finish_reason"] { result.finishReason = reason }
        var text = ""
        if chat {
            if case .string(let s)? = choice["delta"]?["content"] { text = s }
        } else if case .string(let s)? = choice["text"] {
            text = s
        }
        // Tokens with log-probabilities: one entry per token (llama.cpp, vLLM).
        if case .array(let entries)? = choice["logprobs"]?["content"], !entries.isEmpty {
            for e in entries {
                guard case .string(let tok)? = e["token"] else {
                    self.error = .malformed(url: url, event: payload, reason: "a logprobs entry has no 'token'")
                    return false
                }
                var lp: Double?
                if case .number(let x)? = e["logprob"] { lp = x }
                var top: [TopToken] = []
                if case .array(let alts)? = e["top_logprobs"] {
                    for a in alts {
                        if case .string(let t)? = a["token"], case .number(let x)? = a["logprob"] {
                            top.append(TopToken(token: t, logprob: x))
                        }
                    }
                }
                if !push(StreamedToken(text: tok, logprob: lp, top: top, at: at - t0)) { return false }
            }
        } else if !text.isEmpty {
            if !push(StreamedToken(text: text, logprob: nil, top: [], at: at - t0)) { return false }
        }
        return true
    }

    private func push(_ t: StreamedToken) -> Bool {
        result.tokens.append(t)
        if let onToken, !onToken(t, result.tokens.count) { return false }
        return true
    }
}
