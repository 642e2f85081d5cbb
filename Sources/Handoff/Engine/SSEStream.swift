import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Monotonic seconds (CLOCK_MONOTONIC), for arrival times that do not jump with the wall clock.
public enum Monotonic {
    @inline(__always) public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

/// A failure talking to an engine, phrased so the user knows what to fix. Exit code 1.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    case unreachable(url: String, reason: String)
    case http(url: String, status: Int, body: String)
    case timeout(url: String, seconds: Double, phase: String)
    case malformed(url: String, event: String, reason: String)
    case interrupted(url: String, reason: String)

    public var description: String {
        switch self {
        case let .unreachable(url, reason):
            return "cannot connect to \(url): \(reason). Is the server running? (start one with `handoff engine serve`, or check --small/--large)"
        case let .http(url, status, body):
            return "\(url) answered HTTP \(status): \(body.prefix(400))"
        case let .timeout(url, s, phase):
            return "\(url): no \(phase) within \(s) s (raise --timeout if the server is just slow)"
        case let .malformed(url, event, reason):
            return "\(url) sent a malformed server-sent event (\(reason)): \(event.prefix(200))"
        case let .interrupted(url, reason):
            return "the stream from \(url) broke off before it finished: \(reason)"
        }
    }

    /// Worth retrying: the server was not there (yet) or dropped the connection before answering.
    public var isTransient: Bool {
        switch self {
        case .unreachable: return true
        case let .http(_, status, _): return status == 503 || status == 429
        default: return false
        }
    }

    public var handoff: HandoffError { HandoffError(description, exitCode: 1) }
}

/// POSTs a JSON body and delivers the response's server-sent events (`data: …` lines) as they
/// arrive, through a `URLSessionDataDelegate` (Linux Foundation has no `URLSession.bytes`).
///
/// The handler runs on the session's serial delegate queue with each event's payload and its
/// arrival time (`Monotonic.now()`); returning `false` cancels the request (the server sees the
/// connection close and stops generating). Overhead per event: one line split and one call.
public final class SSEStream: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    public typealias Handler = (_ data: String, _ at: Double) -> Bool

    private let url: URL
    private let handler: Handler
    private var buffer = [UInt8]()
    private var status = 0
    private var errorBody = [UInt8]()
    private var stoppedByHandler = false
    private var sawEvent = false
    private var continuation: CheckedContinuation<Bool, Error>?
    private var finished = false
    private let firstByteTimeout: Double
    private let idleTimeout: Double
    private var lastActivity = Monotonic.now()

    private init(url: URL, firstByteTimeout: Double, idleTimeout: Double, handler: @escaping Handler) {
        self.url = url
        self.handler = handler
        self.firstByteTimeout = firstByteTimeout
        self.idleTimeout = idleTimeout
    }

    /// Streams one POST. Returns `true` when the handler stopped the stream, `false` when the
    /// server ended it. Throws `EngineError`.
    public static func post(_ url: URL, json body: Data, firstByteTimeout: Double = 120, idleTimeout: Double = 60,
                            handler: @escaping Handler) async throws -> Bool {
        let s = SSEStream(url: url, firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout, handler: handler)
        return try await s.run(body)
    }

    private func run(_ body: Data) async throws -> Bool {
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = max(firstByteTimeout, idleTimeout)
        config.timeoutIntervalForResource = 24 * 3600
        config.httpMaximumConnectionsPerHost = 64
        let session = URLSession(configuration: config, delegate: self, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
        request.httpBody = body
        let task = session.dataTask(with: request)
        return try await withCheckedThrowingContinuation { c in
            queue.addOperation {
                self.continuation = c
                task.resume()
            }
        }
    }

    private func finish(_ r: Result<Bool, Error>) {
        guard !finished else { return }
        finished = true
        continuation?.resume(with: r)
        continuation = nil
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                           completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        completionHandler(.allow)
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let at = Monotonic.now()
        lastActivity = at
        guard !finished else { return }
        if status != 200 {
            errorBody.append(contentsOf: data.prefix(4096 - min(4096, errorBody.count)))
            return
        }
        buffer.append(contentsOf: data)
        // Split complete lines; keep the tail.
        var start = 0
        var i = 0
        let n = buffer.count
        while i < n {
            if buffer[i] == 10 {
                var end = i
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                if end - start >= 5 && buffer[start] == 100 /* d */ && buffer[start + 1] == 97 && buffer[start + 2] == 116
                    && buffer[start + 3] == 97 && buffer[start + 4] == 58 {
                    var s = start + 5
                    if s < end && buffer[s] == 32 { s += 1 }
                    let payload = String(decoding: buffer[s..<end], as: UTF8.self)
                    sawEvent = true
                    if payload != "[DONE]" && !handler(payload, at) {
                        stoppedByHandler = true
                        dataTask.cancel()
                        finish(.success(true))
                        return
                    }
                }
                start = i + 1
            }
            i += 1
        }
        if start > 0 { buffer.removeFirst(start) }
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if stoppedByHandler { finish(.success(true)); return }
        let u = url.absoluteString
        if let error = error as NSError? {
            let refused = [NSURLErrorCannotConnectToHost, NSURLErrorCannotFindHost, NSURLErrorNotConnectedToInternet]
            if refused.contains(error.code) {
                finish(.failure(EngineError.unreachable(url: u, reason: error.localizedDescription)))
            } else if error.code == NSURLErrorTimedOut {
                finish(.failure(EngineError.timeout(url: u, seconds: sawEvent ? idleTimeout : firstByteTimeout,
                                                    phase: sawEvent ? "next token" : "first byte")))
            } else if !sawEvent && error.code == NSURLErrorNetworkConnectionLost {
                finish(.failure(EngineError.unreachable(url: u, reason: error.localizedDescription)))
            } else {
                finish(.failure(EngineError.interrupted(url: u, reason: error.localizedDescription)))
            }
            return
        }
        if status != 200 {
            finish(.failure(EngineError.http(url: u, status: status, body: String(decoding: errorBody, as: UTF8.self))))
            return
        }
        finish(.success(false))
    }
}
