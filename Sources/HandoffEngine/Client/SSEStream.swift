import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// A failure talking to an engine, phrased so the user knows what to fix. Exit code 1.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    case unreachable(url: String, reason: String)
    case http(url: String, status: Int, body: String)
    case timeout(url: String, seconds: Double, phase: String)
    case malformed(url: String, event: String, reason: String)
    case interrupted(url: String, reason: String)
    case tls(url: String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let url, let reason):
            return
                "cannot connect to \(url): \(reason). Is the server running? (start one with `handoff engine serve`, or check --small/--large)"
        case .http(let url, let status, let body):
            return "\(url) answered HTTP \(status): \(body.prefix(400))"
        case .timeout(let url, let s, let phase):
            return "\(url): no \(phase) within \(s) s (raise --timeout if the server is just slow)"
        case .malformed(let url, let event, let reason):
            return "\(url) sent a malformed server-sent event (\(reason)): \(event.prefix(200))"
        case .interrupted(let url, let reason):
            return "the stream from \(url) broke off before it finished: \(reason)"
        case .tls(let url, let reason):
            return "TLS with \(url) failed: \(reason)"
        }
    }

    /// Worth retrying: the server was not there (yet) or busy.
    public var isTransient: Bool {
        switch self {
        case .unreachable: return true
        case .http(_, let status, _): return status == 503 || status == 429
        default: return false
        }
    }

    public var handoff: HandoffError { HandoffError(description, exitCode: 1) }
}

/// POSTs a JSON body and delivers the response's server-sent events (`data: …` lines) as they
/// arrive, each with its arrival time (`Monotonic.now()`), on the request's own thread
/// (`HTTPClient`). Returning `false` from the handler closes the connection (the server sees it
/// and stops generating). Overhead per event: one line split and one call.
public enum SSEStream {
    public typealias Handler = @Sendable (_ data: String, _ at: Double) -> Bool

    /// Streams one POST. Returns `true` when the handler stopped the stream, `false` when the
    /// server ended it. Throws `EngineError` (HTTP errors carry the server's message).
    public static func post(
        _ url: URL, json body: Data, connection: ConnectionOptions = ConnectionOptions(),
        firstByteTimeout: Double = 120,
        idleTimeout: Double = 60, handler: @escaping Handler
    ) async throws -> Bool {
        let state = LineState(handler: handler)
        let status = try await HTTPClient.request(
            url, method: "POST", body: body, connection: connection, firstByteTimeout: firstByteTimeout,
            idleTimeout: idleTimeout
        ) { p in
            state.feed(p)
        }
        if status != 200 {
            throw EngineError.http(
                url: url.absoluteString, status: status, body: String(decoding: state.raw.prefix(4096), as: UTF8.self))
        }
        return state.stopped
    }

    final class LineState: @unchecked Sendable {
        let handler: Handler
        var buffer = [UInt8]()
        var raw = [UInt8]()
        var stopped = false
        init(handler: @escaping Handler) { self.handler = handler }

        func feed(_ p: UnsafeRawBufferPointer) -> Bool {
            let at = Monotonic.now()
            if raw.count < 4096 { raw.append(contentsOf: p.prefix(4096 - raw.count)) }
            buffer.append(contentsOf: p)
            var start = 0
            let n = buffer.count
            var i = 0
            while i < n {
                if buffer[i] == 10 {
                    var end = i
                    if end > start && buffer[end - 1] == 13 { end -= 1 }
                    if end - start >= 5 && buffer[start] == 100 && buffer[start + 1] == 97 && buffer[start + 2] == 116
                        && buffer[start + 3] == 97 && buffer[start + 4] == 58
                    {
                        var s = start + 5
                        if s < end && buffer[s] == 32 { s += 1 }
                        let payload = String(decoding: buffer[s..<end], as: UTF8.self)
                        if payload != "[DONE]" && !handler(payload, at) {
                            stopped = true
                            return false
                        }
                    }
                    start = i + 1
                }
                i += 1
            }
            if start > 0 { buffer.removeFirst(start) }
            return true
        }
    }
}
