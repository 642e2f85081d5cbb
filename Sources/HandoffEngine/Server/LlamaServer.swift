import Foundation
import HandoffAnalysis
import HandoffModel
import HandoffSim
import HandoffSupport

/// Where `scripts/install-engine` put llama-server and the models: `$HANDOFF_ENGINE`, else the
/// first `.engine` folder found walking up from the current directory.
public struct EngineInstall: Sendable {
    public var root: String

    public static func locate() throws -> EngineInstall {
        let fm = FileManager.default
        if let e = ProcessInfo.processInfo.environment["HANDOFF_ENGINE"], !e.isEmpty {
            return try check(EngineInstall(root: e))
        }
        var dir = URL(fileURLWithPath: fm.currentDirectoryPath)
        while true {
            let candidate = dir.appendingPathComponent(".engine").path
            if fm.fileExists(atPath: candidate + "/bin/llama-server") { return EngineInstall(root: candidate) }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        throw HandoffError(
            "llama-server is not installed: run ./scripts/install-engine in the Handoff repository "
                + "(or set HANDOFF_ENGINE to its .engine folder)", exitCode: 1)
    }

    static func check(_ e: EngineInstall) throws -> EngineInstall {
        guard FileManager.default.isExecutableFile(atPath: e.server) else {
            throw HandoffError(
                "\(e.server) is missing: run ./scripts/install-engine (HANDOFF_ENGINE=\(e.root))", exitCode: 1)
        }
        return e
    }

    public var server: String { root + "/bin/llama-server" }
    /// A model by short name (`small`, `large`, `gemma`, `qwen-small`, `qwen-large`) or a path.
    public func model(_ name: String) throws -> String {
        let path = name.contains("/") || name.hasSuffix(".gguf") ? name : root + "/models/\(name).gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw HandoffError("model \(path) is missing: run ./scripts/install-engine", exitCode: 1)
        }
        return path
    }
}

/// A llama-server process Handoff started: bound to 127.0.0.1, stopped with `stop()` (and when
/// the object goes away). Its log goes to `logPath`, which `kvCacheBytes()` reads.
public final class LlamaServer: @unchecked Sendable {
    public struct Options: Sendable {
        public var model: String
        public var port: Int
        public var parallel = 1
        public var contextTokens = 4096
        public var threads = 2
        /// CPU cores to pin the process to (`taskset -c`), so two tiers do not share cores.
        public var cpus: String?
        /// One KV buffer shared by all slots (`-kvu`). Without it llama.cpp splits every batch into
        /// equal per-sequence ubatches, so a prompt joining running decodes is processed a few
        /// tokens per iteration.
        public var kvUnified = true
        public var extra: [String] = []

        public init(
            model: String, port: Int, parallel: Int = 1, contextTokens: Int = 4096, threads: Int = 2,
            cpus: String? = nil,
            kvUnified: Bool = true, extra: [String] = []
        ) {
            self.model = model
            self.port = port
            self.parallel = parallel
            self.contextTokens = contextTokens
            self.threads = threads
            self.cpus = cpus
            self.kvUnified = kvUnified
            self.extra = extra
        }
    }

    public let options: Options
    public let logPath: String
    public let process: Process
    public var url: String { "http://127.0.0.1:\(options.port)" }

    /// The command line, for logs and reports.
    public static func arguments(_ o: Options, server: String) -> [String] {
        var a = [
            server, "-m", o.model, "--host", "127.0.0.1", "--port", String(o.port), "-t", String(o.threads),
            "-tb", String(o.threads), "--parallel", String(o.parallel), "-c", String(o.contextTokens),
            "--metrics", "--cache-ram", "0", "--no-webui", "-lv", "4"
        ]
        a.append(o.kvUnified ? "--kv-unified" : "--no-kv-unified")
        a += o.extra
        if let cpus = o.cpus { a = ["taskset", "-c", cpus] + a }
        return a
    }

    /// Starts the server and waits until `/health` answers 200.
    public static func start(
        _ o: Options, install: EngineInstall, logPath: String, timeout: Double = 180
    ) async throws -> LlamaServer {
        let p = Process()
        let args = arguments(o, server: install.server)
        p.executableURL = URL(fileURLWithPath: args[0] == "taskset" ? "/usr/bin/taskset" : args[0])
        p.arguments = Array(args.dropFirst())
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardOutput = log
        p.standardError = log
        try p.run()
        let s = LlamaServer(options: o, logPath: logPath, process: p)
        let client = try OpenAIClient(base: s.url)
        do {
            let deadline = Monotonic.now() + timeout
            while true {
                if !p.isRunning {
                    let tail =
                        (try? String(contentsOfFile: logPath, encoding: .utf8))?.split(separator: "\n").suffix(8)
                        .joined(separator: "\n") ?? ""
                    throw HandoffError(
                        "llama-server exited (status \(p.terminationStatus)) while starting; its log \(logPath) ends:\n\(tail)",
                        exitCode: 1)
                }
                if let (status, _) = try? await client.getJSON("health", timeout: 2), status == 200 { break }
                if Monotonic.now() > deadline {
                    throw HandoffError(
                        "llama-server on port \(o.port) not healthy after \(Int(timeout)) s; see \(logPath)",
                        exitCode: 1)
                }
                try await Task.sleep(nanoseconds: 200_000_000)
            }
        } catch {
            s.stop()
            throw error
        }
        return s
    }

    init(options: Options, logPath: String, process: Process) {
        self.options = options
        self.logPath = logPath
        self.process = process
    }

    deinit { stop() }

    /// SIGTERM, then SIGKILL after 1 s. (A child started by Foundation's `Process` can inherit a
    /// mask that blocks SIGTERM, so the grace period is short; llama-server keeps no state worth
    /// a clean shutdown.) Polls: Foundation's `waitUntilExit` spins a run loop.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Monotonic.now() + 1
        while process.isRunning && Monotonic.now() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning { usleep(20_000) }
    }

    /// KV-cache bytes the server allocated at load, from its log line
    /// `llama_kv_cache: size = X MiB (…), K (f16): Y MiB, V (f16): Z MiB`. Summed over all such lines.
    public func kvCacheBytes() -> Double? {
        Self.kvCacheBytes(log: (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    public static func kvCacheBytes(log: String) -> Double? {
        var total = 0.0
        var found = false
        for line in log.split(separator: "\n") where line.contains("llama_kv_cache: size =") {
            guard let r = line.range(of: "size =") else { continue }
            let rest = line[r.upperBound...].trimmingCharacters(in: .whitespaces)
            let num = rest.prefix { $0.isNumber || $0 == "." }
            guard let mib = Double(num) else { continue }
            total += mib * 1_048_576
            found = true
        }
        return found ? total : nil
    }
}
