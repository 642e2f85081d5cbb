import Foundation
import XCTest

@testable import HandoffAnalysis
@testable import HandoffEngine
@testable import HandoffModel
@testable import HandoffSim
@testable import HandoffSupport

/// nginx (Debian's, unpacked by scripts/install-engine) terminating TLS with a self-signed
/// certificate on 127.0.0.1 in front of the small llama-server, and asking for an API key.
final class TLSProxy: @unchecked Sendable {
    let dir: String
    let port: Int
    let key: String
    let process: Process
    var url: String { "https://127.0.0.1:\(port)" }
    var caFile: String { dir + "/cert.pem" }

    init(upstream: String, port: Int, key: String) throws {
        let install = try EngineInstall.locate()
        let nginx = install.root + "/nginx/usr/sbin/nginx"
        guard FileManager.default.isExecutableFile(atPath: nginx) else {
            throw HandoffError("\(nginx) is missing: run ./scripts/install-engine", exitCode: 1)
        }
        dir = tempDir()
        self.port = port
        self.key = key
        // A self-signed certificate for the IP address the client connects to.
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw HandoffError("openssl req failed", exitCode: 1) }
        let upstreamHost = upstream.replacingOccurrences(of: "http://", with: "")
        let conf = """
            daemon off;
            worker_processes 1;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log;
            events { worker_connections 64; }
            http {
              access_log off;
              client_body_temp_path \(dir)/body; proxy_temp_path \(dir)/proxy; fastcgi_temp_path \(dir)/fastcgi;
              uwsgi_temp_path \(dir)/uwsgi; scgi_temp_path \(dir)/scgi;
              server {
                listen 127.0.0.1:\(port) ssl;
                ssl_certificate \(dir)/cert.pem;
                ssl_certificate_key \(dir)/key.pem;
                location / {
                  if ($http_authorization != "Bearer \(key)") { return 401 '{"error":"missing or wrong API key"}'; }
                  proxy_pass http://\(upstreamHost);
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_buffering off;
                  proxy_read_timeout 300s;
                }
              }
            }
            """
        try conf.write(toFile: dir + "/nginx.conf", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        EngineFixture.registerKill(process.processIdentifier)
        // Listening once the pid file appears (nginx writes it after binding).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !FileManager.default.fileExists(atPath: dir + "/nginx.pid") { usleep(20_000) }
        guard process.isRunning else {
            throw HandoffError(
                "nginx exited: \((try? String(contentsOfFile: dir + "/error.log", encoding: .utf8)) ?? "")", exitCode: 1
            )
        }
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

final class TLSEngineTests: XCTestCase {
    static let key = "sk-test-\(UInt32.random(in: 100_000...999_999))"

    /// https:// through libcurl against a real TLS terminator: the stream equals the plain-http one
    /// token for token; a missing CA, a missing key and a wrong key each fail clearly, and the key
    /// never appears in an error.
    func testStreamsThroughTLSWithAnAPIKey() async throws {
        let small = try await EngineFixture.shared.url("small")
        let proxy = try TLSProxy(upstream: small, port: 18443, key: Self.key)
        var r = CompletionRequest(prompt: "Count from one to five.", maxTokens: 12, topLogprobs: 3, ignoreEOS: true)
        r.temperature = 0
        r.cachePrompt = false
        let plain = try await OpenAIClient(base: small).complete(r)
        let tls = try OpenAIClient(
            base: proxy.url, connection: ConnectionOptions(apiKey: Self.key, caFile: proxy.caFile))
        let res = try await tls.complete(r)
        XCTAssertEqual(res.tokens.count, 12)
        XCTAssertEqual(res.text, plain.text, "greedy: the same tokens through the proxy")
        XCTAssertEqual(res.tokens.map { $0.top.count }, Array(repeating: 3, count: 12))
        XCTAssertEqual(res.timings?.predictedTokens, 12, "the server's timings pass through")
        XCTAssertEqual(res.tokens.map(\.at), res.tokens.map(\.at).sorted())
        // Streamed, not buffered: the first token arrives well before the last.
        XCTAssertLessThan(res.tokens[0].at, res.tokens[11].at)
        // GET through TLS too.
        let (status, health) = try await tls.getJSON("health")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(health?["status"], .string("ok"))

        // No CA file: the self-signed certificate is refused, and the error says what to do.
        do {
            _ = try await OpenAIClient(base: proxy.url, retries: 0, connection: ConnectionOptions(apiKey: Self.key))
                .complete(r)
            XCTFail("a self-signed certificate was accepted without --cacert")
        } catch let e as EngineError {
            guard case .tls = e else { return XCTFail("expected a TLS error, got \(e)") }
            XCTAssert(e.description.contains("--cacert"), e.description)
        }
        // Wrong key: the server's 401 reaches the user; the key we sent is not printed.
        do {
            _ = try await OpenAIClient(
                base: proxy.url, connection: ConnectionOptions(apiKey: "wrong-\(Self.key)", caFile: proxy.caFile)
            ).complete(r)
            XCTFail("a wrong key was accepted")
        } catch let e as EngineError {
            guard case .http(_, let status, _) = e else { return XCTFail("expected HTTP 401, got \(e)") }
            XCTAssertEqual(status, 401)
            XCTAssertFalse(e.description.contains(Self.key), e.description)
        }
        XCTAssertFalse("\(tls.connection)".contains(Self.key))

        // The CLI: the key from the variable --api-key-env names, the CA from --cacert.
        let out = tempDir() + "/rec.jsonl"
        let cli = try runCLI(
            [
                "record", "--server", proxy.url, "--api-key-env", "HANDOFF_TEST_KEY", "--cacert", proxy.caFile,
                "--limit", "1", "--max-tokens", "8", "-o", out
            ], environment: ["HANDOFF_TEST_KEY": Self.key])
        XCTAssertEqual(cli.status, 0, cli.stderr)
        let trace = try TraceJSONL.read(path: out)
        XCTAssertEqual(trace.count, 1)
        XCTAssertFalse((try String(contentsOfFile: out, encoding: .utf8)).contains(Self.key), "the key is in the trace")
        XCTAssertFalse(cli.stderr.contains(Self.key) || cli.stdout.contains(Self.key))
        // The variable unset: exit 2 naming the option, before any request.
        let unset = try runCLI([
            "record", "--server", proxy.url, "--api-key-env", "HANDOFF_TEST_KEY_UNSET", "--cacert", proxy.caFile,
            "--limit", "1", "-o", tempDir() + "/x.jsonl"
        ])
        XCTAssertEqual(unset.status, 2, unset.stderr)
        XCTAssert(
            unset.stderr.contains("--api-key-env") && unset.stderr.contains("HANDOFF_TEST_KEY_UNSET"), unset.stderr)
    }
}
