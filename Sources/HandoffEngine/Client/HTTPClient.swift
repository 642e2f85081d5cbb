import Foundation

#if canImport(Glibc)
import Glibc
import HandoffSupport
import HandoffModel
import HandoffSim
import HandoffAnalysis
#endif

/// A minimal blocking HTTP/1.1 client over POSIX sockets, one thread per request, for plain
/// `http://` servers (llama-server, vLLM and SGLang behind a cluster network). `https://` goes
/// through libcurl (`CurlTransport`) on the same one-thread-per-request footing.
///
/// Why not URLSession: on Linux, swift-corelibs-foundation's URLSession delivered each streamed
/// token through tens of epoll/futex round trips — measured 3.4 s of system CPU for 317 tokens,
/// on a 2-core machine where that CPU is taken from the server being measured. A blocking
/// `recv` on a dedicated thread costs one system call per network read.
///
/// Supports `Content-Length`, `Transfer-Encoding: chunked` and read-until-close bodies.
/// Timeouts: `firstByteTimeout` until the response head, then `idleTimeout` between reads.
enum HTTPClient {
    struct Target {
        var host: String
        var port: Int
        var path: String
    }

    static func target(_ url: URL) throws -> Target {
        guard url.scheme == "http", let host = url.host else {
            throw EngineError.unreachable(url: url.absoluteString, reason: "expected an http:// or https:// URL")
        }
        var path = url.path.isEmpty ? "/" : url.path
        if let q = url.query { path += "?" + q }
        return Target(host: host, port: url.port ?? 80, path: path)
    }

    /// Runs one request on its own thread. `onBody` receives body bytes as they arrive and returns
    /// false to close the connection early. Returns the status code.
    static func request(
        _ url: URL, method: String, body: Data?, connection: ConnectionOptions = ConnectionOptions(),
        firstByteTimeout: Double,
        idleTimeout: Double, onBody: @escaping @Sendable (UnsafeRawBufferPointer) -> Bool
    ) async throws -> Int {
        let t = url.scheme == "https" ? nil : try target(url)
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, Error>) in
            let thread = Thread {
                do {
                    guard let t else {
                        c.resume(
                            returning: try CurlTransport.run(
                                url: url.absoluteString, method: method, body: body, headers: connection.headers,
                                caFile: connection.caFile, firstByteTimeout: firstByteTimeout,
                                idleTimeout: idleTimeout, onBody: onBody))
                        return
                    }
                    c.resume(
                        returning: try run(
                            t, url: url.absoluteString, method: method, body: body, headers: connection.headers,
                            firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout, onBody: onBody))
                } catch { c.resume(throwing: error) }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    static func setTimeout(_ fd: Int32, _ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    static func run(
        _ t: Target, url: String, method: String, body: Data?, headers: [String] = [], firstByteTimeout: Double,
        idleTimeout: Double, onBody: (UnsafeRawBufferPointer) -> Bool
    ) throws -> Int {
        let fd = try openSocket(t, url: url)
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setTimeout(fd, firstByteTimeout)
        try sendRequest(fd, t, url: url, method: method, body: body, headers: headers)
        let reader = Reader(fd: fd, url: url, firstByteTimeout: firstByteTimeout, idleTimeout: idleTimeout)
        let (status, chunked, length) = try reader.head()
        setTimeout(fd, idleTimeout)
        if chunked {
            try reader.chunkedBody(onBody)
        } else if let length {
            try reader.body(length: length, onBody)
        } else {
            try reader.bodyToClose(onBody)
        }
        return status
    }

    /// A connected TCP socket to `t` (the first of its addresses that accepts).
    static func openSocket(_ t: Target, url: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(t.host, String(t.port), &hints, &res)
        guard rc == 0, let first = res else {
            throw EngineError.unreachable(
                url: url, reason: "cannot resolve \(t.host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(res) }
        var lastErr: Int32 = 0
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                setTimeout(fd, 10)
                if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                lastErr = errno
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw EngineError.unreachable(url: url, reason: String(cString: strerror(lastErr)))
    }

    /// Writes the request head (with `headers`) and body.
    static func sendRequest(
        _ fd: Int32, _ t: Target, url: String, method: String, body: Data?, headers: [String]
    ) throws {
        var head =
            "\(method) \(t.path) HTTP/1.1\r\nHost: \(t.host):\(t.port)\r\nConnection: close\r\nAccept: text/event-stream, application/json\r\n"
        for h in headers { head += h + "\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        var out = Data(head.utf8)
        if let body { out.append(body) }
        try out.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 {
                    throw EngineError.interrupted(url: url, reason: "send: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
    }

    /// Reads a response from a socket: the head, then a chunked, sized or read-until-close body.
    final class Reader {
        let fd: Int32
        let url: String
        let firstByteTimeout: Double
        let idleTimeout: Double
        var buf = [UInt8](repeating: 0, count: 65536)
        var pending = [UInt8]()
        var sawHead = false

        init(fd: Int32, url: String, firstByteTimeout: Double, idleTimeout: Double) {
            self.fd = fd
            self.url = url
            self.firstByteTimeout = firstByteTimeout
            self.idleTimeout = idleTimeout
        }

        /// Appends what the socket has to `pending`; false at the end of the stream.
        func readMore() throws -> Bool {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw EngineError.timeout(
                        url: url, seconds: sawHead ? idleTimeout : firstByteTimeout,
                        phase: sawHead ? "data" : "response")
                }
                throw EngineError.interrupted(url: url, reason: String(cString: strerror(errno)))
            }
            if n == 0 { return false }
            pending.append(contentsOf: buf[0..<n])
            return true
        }

        /// The status line and the headers that frame the body.
        func head() throws -> (status: Int, chunked: Bool, length: Int?) {
            var headEnd = -1
            while headEnd < 0 {
                if pending.count >= 4 {
                    for i in 0...(pending.count - 4)
                    where pending[i] == 13 && pending[i + 1] == 10 && pending[i + 2] == 13 && pending[i + 3] == 10 {
                        headEnd = i
                        break
                    }
                }
                if headEnd >= 0 { break }
                guard try readMore() else {
                    throw pending.isEmpty
                        ? EngineError.unreachable(
                            url: url, reason: "the server closed the connection without answering")
                        : EngineError.interrupted(url: url, reason: "connection closed inside the response head")
                }
            }
            sawHead = true
            let headText = String(decoding: pending[0..<headEnd], as: UTF8.self)
            pending.removeFirst(headEnd + 4)
            let lines = headText.components(separatedBy: "\r\n")
            let parts = lines[0].split(separator: " ")
            guard parts.count >= 2, let status = Int(parts[1]) else {
                throw EngineError.malformed(url: url, event: lines[0], reason: "not an HTTP status line")
            }
            var chunked = false
            var length: Int?
            for l in lines.dropFirst() {
                guard let colon = l.firstIndex(of: ":") else { continue }
                let k = l[..<colon].lowercased()
                let v = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if k == "transfer-encoding" && v.lowercased().contains("chunked") { chunked = true }
                if k == "content-length" { length = Int(v) }
            }
            return (status, chunked, length)
        }

        func deliver(_ bytes: ArraySlice<UInt8>, _ onBody: (UnsafeRawBufferPointer) -> Bool) -> Bool {
            bytes.withUnsafeBytes { onBody($0) }
        }

        /// `Transfer-Encoding: chunked`, until the last chunk or `onBody` stops.
        func chunkedBody(_ onBody: (UnsafeRawBufferPointer) -> Bool) throws {
            while true {
                var lineEnd = -1
                while lineEnd < 0 {
                    if let i = pending.firstIndex(of: 10) {
                        lineEnd = i
                        break
                    }
                    guard try readMore() else {
                        throw EngineError.interrupted(url: url, reason: "connection closed inside a chunked body")
                    }
                }
                let sizeText = String(decoding: pending[0..<lineEnd], as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                pending.removeFirst(lineEnd + 1)
                guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else {
                    throw EngineError.malformed(url: url, event: sizeText, reason: "bad chunk size")
                }
                if size == 0 { return }
                while pending.count < size + 2 {
                    guard try readMore() else {
                        throw EngineError.interrupted(url: url, reason: "connection closed inside a chunk")
                    }
                }
                if !deliver(pending[0..<size], onBody) { return }
                pending.removeFirst(size + 2)
            }
        }

        /// A `Content-Length` body.
        func body(length: Int, _ onBody: (UnsafeRawBufferPointer) -> Bool) throws {
            var left = length
            if !pending.isEmpty {
                let k = min(left, pending.count)
                if !deliver(pending[0..<k], onBody) { return }
                left -= k
                pending.removeAll()
            }
            while left > 0 {
                guard try readMore() else {
                    throw EngineError.interrupted(
                        url: url, reason: "connection closed \(left) bytes before the end of the body")
                }
                let k = min(left, pending.count)
                if !deliver(pending[0..<k], onBody) { return }
                left -= k
                pending.removeAll()
            }
        }

        /// A body that ends when the server closes the connection.
        func bodyToClose(_ onBody: (UnsafeRawBufferPointer) -> Bool) throws {
            if !pending.isEmpty {
                if !deliver(pending[...], onBody) { return }
                pending.removeAll()
            }
            while try readMore() {
                if !deliver(pending[...], onBody) { return }
                pending.removeAll()
            }
        }
    }
}
