import ArgumentParser
import Foundation
import Handoff

struct EngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine", abstract: "Start the local llama.cpp servers installed by scripts/install-engine.",
        subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run llama-server on 127.0.0.1 with an installed model until interrupted.",
            discussion:
                "Models: qwen-small (Qwen2.5-Coder-0.5B-Instruct Q4_K_M) and qwen-large (Qwen2.5-Coder-1.5B-Instruct Q4_K_M), the real pair for closed-loop offload; small (SmolLM2-135M Q8_0) and large (random-weight 1.07B llama, latency only) for speculative and SPECS timing; gemma (Gemma-3-270M); or a .gguf path. Prints the KV-cache bytes the server allocated."
        )
        @Argument(help: "Model name or path.") var model: String = "small"
        @Option(help: "Port.") var port: Int = 8081
        @Option(help: "Parallel slots (continuous batching).") var parallel: Int = 4
        @Option(help: "Context tokens (KV cells, shared by the slots).") var ctx: Int = 8192
        @Option(help: "Threads.") var threads: Int = 2
        @Option(help: "Pin to these CPUs (taskset -c), e.g. 0 or 1.") var cpus: String?
        @Option(help: "Server log file.") var log: String?
        @Flag(
            inversion: .prefixedNo,
            help:
                "One KV buffer shared by the slots (llama.cpp -kvu); without it a prompt joining running decodes is split into per-sequence ubatches."
        )
        var kvUnified = true
        func run() async throws {
            try await guardedAsync {
                let inst = try EngineInstall.locate()
                let o = LlamaServer.Options(
                    model: try inst.model(model), port: port, parallel: parallel, contextTokens: ctx, threads: threads,
                    cpus: cpus, kvUnified: kvUnified)
                let logPath = log ?? NSTemporaryDirectory() + "handoff-llama-\(port).log"
                let s = try await LlamaServer.start(o, install: inst, logPath: logPath)
                emit("serving \(o.model) at \(s.url) (pid \(s.process.processIdentifier), log \(logPath))\n")
                if let kv = s.kvCacheBytes() {
                    emit(String(format: "KV cache allocated: %.0f bytes (%.2f MiB)\n", kv, kv / 1_048_576))
                }
                signal(SIGINT) { _ in serveStopRequested = 1 }
                signal(SIGTERM) { _ in serveStopRequested = 1 }
                while s.process.isRunning && serveStopRequested == 0 { try await Task.sleep(nanoseconds: 200_000_000) }
                if !s.process.isRunning {
                    throw HandoffError(
                        "llama-server exited with status \(s.process.terminationStatus); see \(logPath)", exitCode: 1)
                }
                s.stop()
            }
        }
    }
}

/// Set by the SIGINT/SIGTERM handler of `engine serve` (a plain store: async-signal-safe).
nonisolated(unsafe) var serveStopRequested: sig_atomic_t = 0
