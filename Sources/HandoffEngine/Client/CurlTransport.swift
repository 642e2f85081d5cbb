import CCurl
import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// `http://` and `https://` requests through libcurl (OpenSSL), for `HTTPClient.request`:
/// body bytes are handed to `onBody` as they arrive, `false` closes the connection, the status
/// code is returned. Certificates are verified against the system store, or against
/// `ConnectionOptions.caFile` when given (a private CA or a self-signed certificate).
///
/// Timeouts follow `HTTPClient`: `firstByteTimeout` until the response head, then `idleTimeout`
/// between reads, checked from libcurl's progress callback (called about once a second while a
/// transfer idles).
enum CurlTransport {
    /// `curl_global_init` is not thread-safe: run it once, before the first request.
    private static let initialised: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    /// State shared with the C callbacks through their user pointer; used from one thread.
    private final class Transfer {
        let onBody: (UnsafeRawBufferPointer) -> Bool
        let firstByteTimeout: Double
        let idleTimeout: Double
        var lastActivity = Monotonic.now()
        var sawHead = false
        var stoppedByCaller = false
        var timedOut = false
        init(onBody: @escaping (UnsafeRawBufferPointer) -> Bool, firstByteTimeout: Double, idleTimeout: Double) {
            self.onBody = onBody
            self.firstByteTimeout = firstByteTimeout
            self.idleTimeout = idleTimeout
        }
    }

    static func run(
        url: String, method: String, body: Data?, headers: [String], caFile: String?, firstByteTimeout: Double,
        idleTimeout: Double, onBody: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws -> Int {
        guard initialised, let c = curl_easy_init() else {
            throw EngineError.unreachable(url: url, reason: "libcurl failed to initialise")
        }
        defer { curl_easy_cleanup(c) }
        let transfer = Transfer(onBody: onBody, firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout)
        let user = Unmanaged.passUnretained(transfer).toOpaque()

        var list: UnsafeMutablePointer<curl_slist>?
        for h in headers + ["Accept: text/event-stream, application/json", "Expect:"]
            + (body == nil ? [] : ["Content-Type: application/json"])
        {
            list = curl_slist_append(list, h)
        }
        defer { curl_slist_free_all(list) }
        _ = handoff_curl_set_string(c, CURLOPT_URL, url)
        _ = handoff_curl_set_long(c, CURLOPT_NOSIGNAL, 1)
        _ = handoff_curl_set_long(c, CURLOPT_CONNECTTIMEOUT_MS, 10_000)
        _ = handoff_curl_set_long(c, CURLOPT_TCP_NODELAY, 1)
        // A proxy from the environment (http_proxy, https_proxy) is honoured, never for a server on
        // this machine.
        _ = handoff_curl_set_string(c, CURLOPT_NOPROXY, "127.0.0.1,localhost,::1")
        _ = handoff_curl_set_long(c, CURLOPT_SSL_VERIFYPEER, 1)
        _ = handoff_curl_set_long(c, CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile { _ = handoff_curl_set_string(c, CURLOPT_CAINFO, caFile) }
        _ = handoff_curl_set_headers(c, list)
        _ = handoff_curl_set_string(c, CURLOPT_CUSTOMREQUEST, method)
        installCallbacks(c, user)
        var rc: CURLcode = CURLE_OK
        if let body {
            rc = body.withUnsafeBytes { p in
                _ = handoff_curl_set_body(c, p.baseAddress?.assumingMemoryBound(to: CChar.self), p.count)
                return curl_easy_perform(c)
            }
        } else {
            rc = curl_easy_perform(c)
        }
        let status = Int(handoff_curl_status(c))
        if transfer.stoppedByCaller { return status }
        if transfer.timedOut {
            throw EngineError.timeout(
                url: url, seconds: transfer.sawHead ? idleTimeout : firstByteTimeout,
                phase: transfer.sawHead ? "data" : "response")
        }
        guard rc == CURLE_OK else { throw failure(rc, url: url, caFile: caFile) }
        return status
    }

    /// The transfer's callbacks: body bytes to the caller, the response head seen, and the
    /// first-byte and idle timeouts checked from libcurl's progress callback.
    static func installCallbacks(_ c: UnsafeMutableRawPointer, _ user: UnsafeMutableRawPointer) {
        _ = handoff_curl_set_pointer(c, CURLOPT_WRITEDATA, user)
        _ = handoff_curl_set_write(c) { data, size, count, user in
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let n = size * count
            t.lastActivity = Monotonic.now()
            if !t.onBody(UnsafeRawBufferPointer(start: data, count: n)) {
                t.stoppedByCaller = true
                return 0
            }
            return n
        }
        _ = handoff_curl_set_pointer(c, CURLOPT_HEADERDATA, user)
        _ = handoff_curl_set_header_fn(c) { _, size, count, user in
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            t.sawHead = true
            t.lastActivity = Monotonic.now()
            return size * count
        }
        _ = handoff_curl_set_long(c, CURLOPT_NOPROGRESS, 0)
        _ = handoff_curl_set_pointer(c, CURLOPT_XFERINFODATA, user)
        _ = handoff_curl_set_progress(c) { user, _, _, _, _ in
            let t = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let limit = t.sawHead ? t.idleTimeout : t.firstByteTimeout
            if Monotonic.now() - t.lastActivity > limit {
                t.timedOut = true
                return 1
            }
            return 0
        }
    }

    /// The error a failed transfer's code means, phrased so the user knows what to fix.
    static func failure(_ rc: CURLcode, url: String, caFile: String?) -> EngineError {
        let reason = String(cString: curl_easy_strerror(rc))
        switch rc {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT:
            return EngineError.unreachable(url: url, reason: reason)
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR:
            return EngineError.tls(
                url: url,
                reason: reason
                    + (caFile == nil
                        ? " (a private or self-signed certificate needs --cacert FILE, or engine.<tier>.ca_file)"
                        : " (CA file \(caFile!))"))
        default:
            return EngineError.interrupted(url: url, reason: reason)
        }
    }
}
