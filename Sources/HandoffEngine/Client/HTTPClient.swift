import Foundation
import HandoffModel

/// The engine client's one HTTP stack: each request runs on a thread of its own through libcurl
/// (`CurlTransport`), for `http://` and `https://` servers alike (llama-server, vLLM and SGLang, on
/// this machine or behind a cluster network).
///
/// Why not URLSession: on Linux, swift-corelibs-foundation's URLSession delivered each streamed
/// token through tens of epoll/futex round trips — measured 3.4 s of system CPU for 317 tokens,
/// on a 2-core machine where that CPU is taken from the server being measured. A blocking
/// transfer on a dedicated thread costs one system call per network read.
///
/// Why one stack: plain `http://` had its own POSIX-socket client until libcurl was measured
/// against it on the same local server (200 requests each, 200 SSE chunks 0.5 ms apart): first
/// byte p50 1.51 ms with libcurl against 1.37 ms, whole stream p50 121.1 ms against 120.2 ms,
/// client CPU 3.9 ms against 5.0 ms a request. The difference is below what a served token takes,
/// so two stacks were not worth their code (docs/engine.md).
///
/// Timeouts: `firstByteTimeout` until the response head, then `idleTimeout` between reads.
enum HTTPClient {
    /// Runs one request on its own thread. `onBody` receives body bytes as they arrive and returns
    /// false to close the connection early. Returns the status code.
    static func request(
        _ url: URL, method: String, body: Data?, connection: ConnectionOptions = ConnectionOptions(),
        firstByteTimeout: Double,
        idleTimeout: Double, onBody: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool
    ) async throws -> Int {
        guard url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw EngineError.unreachable(url: url.absoluteString, reason: "expected an http:// or https:// URL")
        }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, Error>) in
            let thread = Thread {
                do {
                    c.resume(
                        returning: try CurlTransport.run(
                            url: url.absoluteString, method: method, body: body, headers: connection.headers,
                            caFile: connection.caFile, firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout,
                            onBody: onBody))
                } catch { c.resume(throwing: error) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
